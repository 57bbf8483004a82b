"""Waking processing processes that belong to another process, through a Unix socket.

`omnicx serve --workers N` runs the processing processes once, in the supervisor, not in
each of the N server processes (they would all work the same consumers: N times the
processes for the same events, and on SQLite N processes waiting for one writer lock). The
server processes are started by uvicorn, so they cannot inherit the shared counter a
`ProcessingProcess` is woken through; after each commit they send a datagram to a socket the
supervisor listens on instead. A datagram lost (the supervisor busy, its buffer full) only
delays processing until its next poll: the events are durable already.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("omnicx.processing")


class WakeListener:
    """A socket in a private temporary directory; each datagram that arrives calls
    `on_wake` (from a thread of its own)."""

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self._on_wake = on_wake
        self._directory = Path(tempfile.mkdtemp(prefix="omnicx-wake-"))  # mode 0700
        self.path = self._directory / "processing.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))
        self._thread = threading.Thread(target=self._listen, name="omnicx-wake", daemon=True)
        self._closed = False

    def start(self) -> None:
        """Starts listening."""
        self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                self._socket.recv(64)
            except OSError:
                return  # closed
            if self._closed:
                return
            self._on_wake()

    def close(self) -> None:
        """Stops listening and removes the socket and its directory."""
        self._closed = True
        # Wakes the thread blocked in recv, then closes.
        WakeSender(str(self.path)).send()
        self._thread.join(5)
        self._socket.close()
        self.path.unlink(missing_ok=True)
        os.rmdir(self._directory)


class WakeSender:
    """Sends wake-ups to a `WakeListener`'s socket; never blocks, never raises."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._lock = threading.Lock()

    def send(self) -> None:
        """One wake-up (dropped if the listener is gone or its buffer is full)."""
        with self._lock:
            try:
                self._socket.sendto(b"!", self._path)
            except OSError as error:  # full, gone: the next poll finds the events
                log.debug("processing wake-up not delivered: %s", error)

    def close(self) -> None:
        """Closes the socket."""
        self._socket.close()
