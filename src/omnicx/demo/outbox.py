"""What simulating a household produces: messages per channel, export rows, truth ledgers."""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any

from omnicx.demo.identifiers import random_uuid
from omnicx.demo.timeline import iso
from omnicx.demo.truth import Ledger

Message = dict[str, Any]


@dataclass(slots=True)
class Outbox:
    """Collects one household's output; every message is recorded in its person's ledger."""

    rng: Random
    end: float
    """Nothing happens at or after this instant (the simulated "now")."""
    messages: list[tuple[str, Message]] = field(default_factory=list)
    pos_rows: list[dict[str, str]] = field(default_factory=list)
    crm_rows: list[dict[str, str]] = field(default_factory=list)

    def send(
        self,
        ledger: Ledger,
        channel: str,
        kind: str,
        instant: float,
        *,
        user_id: str | None,
        anonymous_id: str | None,
        context: dict[str, Any],
        **fields: Any,
    ) -> None:
        """Builds a Segment message with a deterministic messageId and queues it on `channel`."""
        if instant >= self.end:
            return
        message: Message = {
            "type": kind,
            "messageId": random_uuid(self.rng),
            "timestamp": iso(instant),
            "context": context,
            **fields,
        }
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        self.messages.append((channel, message))
        ledger.record(channel, message)
