"""`omnicx serve` and the `omnicx` CLI as real processes, the way an operator runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

STARTUP_SECONDS = 60.0
"""Generous: a cold interpreter compiling every module on a busy two-core machine is slow."""

STOP_SECONDS = 10.0
"""SIGTERM to exit: in-flight requests and the last commit take well under a second here."""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The environment for omnicx processes: ours, minus a database URL that `--db` replaces."""
    env = dict(os.environ)
    env.pop("OMNICX_DATABASE_URL", None)
    env.pop("OMNICX_PUBLIC_URL", None)  # the settings document must name the host we called
    return env


def run_cli(database_url: str, *args: str) -> str:
    """Runs `omnicx ARGS --db URL` as an operator would; its stdout (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "omnicx", *args, "--db", database_url],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Polls `check` until it answers something true (returned), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _spawn_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "omnicx", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def _finish_cli(process: subprocess.Popen[str], args: Sequence[str], timeout: float) -> str:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, (
        f"omnicx {' '.join(args)} exited {process.returncode}\n{stdout}\n{stderr}"
    )
    return stdout


def add_sources(database_url: str, channels: Mapping[str, str]) -> dict[str, str]:
    """`omnicx sources add NAME --channel KIND` per source; returns each write key.

    The commands run side by side: each pays a second or more of interpreter start-up.
    The write key is the last line a command prints.
    """
    commands = {
        name: ("sources", "add", name, "--channel", channel, "--db", database_url)
        for name, channel in channels.items()
    }
    running = {name: _spawn_cli(*args) for name, args in commands.items()}
    return {
        name: _finish_cli(process, commands[name], 60.0).strip().splitlines()[-1]
        for name, process in running.items()
    }


class OmnicxServer:
    """One `omnicx serve` process on a fixed port, which tests may stop, kill and restart.

    The port stays the same across restarts, so clients configured with `url` keep working,
    as they would against a real deployment.
    """

    def __init__(self, database_url: str, log_path: Path, *, workers: int = 1) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.write_keys: dict[str, str] = {}
        """Source name → write key, for the sources created through `add_sources`."""

    @property
    def url(self) -> str:
        """The base URL SDKs are pointed at."""
        return f"http://127.0.0.1:{self.port}"

    def add_sources(self, **channels: str) -> None:
        """Creates sources (name=channel) with the CLI; their keys go to `write_keys`."""
        self.write_keys |= add_sources(self.database_url, channels)

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Starts the server and returns once /healthz says it and its database are ready."""
        self.spawn()
        self.wait_healthy()

    def spawn(self) -> None:
        """Starts the process without waiting for it (see `wait_healthy`)."""
        assert not self.running, "the server is already running"
        self.starts += 1
        # Append: a restarted server's log follows the previous one, which helps on failure.
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            serve = ("serve", "--db", self.database_url, "--port", str(self.port))
            serve += ("--workers", str(self.workers))
            self.process = subprocess.Popen(
                [sys.executable, "-m", "omnicx", *serve],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )

    def wait_healthy(self) -> None:
        """Returns once GET /healthz answers 200; fails with the server's output otherwise."""
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.running, f"omnicx serve exited during startup:\n{self.log()}"
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.05)
        raise AssertionError(f"omnicx serve not healthy after {STARTUP_SECONDS}s:\n{self.log()}")

    def terminate(self) -> None:
        """Sends SIGTERM without waiting: the graceful shutdown starts."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = STOP_SECONDS) -> int:
        """Waits for the process to end; fails the test if it takes longer than `timeout`."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"omnicx serve still running {timeout}s after SIGTERM:\n{self.log()}"
            ) from None

    def stop(self) -> None:
        """SIGTERM, then checks the documented clean stop: exit status 0 within seconds."""
        self.terminate()
        status = self.wait_exit()
        assert status == 0, f"omnicx serve exited {status} after SIGTERM:\n{self.log()}"

    def kill(self) -> None:
        """SIGKILL (`kill -9`): no shutdown code runs, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """A clean stop (SIGTERM, exit 0) followed by a start on the same port."""
        self.stop()
        self.start()

    def log(self, tail: int = 8000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return "(no output)"

    def ensure_stopped(self) -> None:
        """Test teardown: never leave a server behind, even when the test failed."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()


def _loopback_connections(port: int) -> list[tuple[str, int, int]]:
    """(side, tx_queue, rx_queue) of each established TCP connection to or from `port`."""
    found: list[tuple[str, int, int]] = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if fields[3] != "01":  # ESTABLISHED only: closed and listening sockets carry no request
            continue
        tx_queue, rx_queue = (int(part, 16) for part in fields[4].split(":"))
        if local_port == port:
            found.append(("server", tx_queue, rx_queue))
        elif remote_port == port:
            found.append(("client", tx_queue, rx_queue))
    return found


def wait_until_server_has_read(port: int, connections: int, timeout: float = 10.0) -> None:
    """Waits until the server process has read every byte clients sent on `connections` open
    connections (Linux's /proc/net/tcp).

    Client send queues empty means the bytes reached the server's kernel; server receive
    queues empty means the server process took them. uvicorn parses what it reads at once,
    so from then on those requests have begun inside the server: they are in flight.
    """
    deadline = time.monotonic() + timeout
    while True:
        sockets = _loopback_connections(port)
        servers = [s for s in sockets if s[0] == "server"]
        if len(servers) == connections and all(tx == rx == 0 for _, tx, rx in sockets):
            return
        assert time.monotonic() < deadline, f"requests not read by the server: {sockets}"
        time.sleep(0.02)


def wait_until_refusing(port: int, timeout: float = 10.0) -> None:
    """Waits until nothing accepts connections on `port`: a stopping server has closed it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, f"port {port} still accepts connections"
        time.sleep(0.02)
