"""The processing stage's consumers, in the order events flow through the domains.

collect → identity → profiles → (analytics, audiences): later domains add their consumer here.
"""

from __future__ import annotations

from functools import cache

from omnicx.analytics.consumer import LakeWriter
from omnicx.audiences.consumer import SegmentMembership
from omnicx.collect.processing import SourceActivity, StreamConsumer
from omnicx.identity.consumer import IdentityResolution
from omnicx.profiles.consumer import ProfileBuilder


def stream_consumers() -> list[StreamConsumer]:
    """Every consumer of the event stream, in processing order."""
    return [
        SourceActivity(),
        IdentityResolution(),
        ProfileBuilder(),
        LakeWriter(),
        SegmentMembership(),
    ]


@cache
def consumer_names() -> tuple[str, ...]:
    """The consumers' names, in processing order (how far each is: `collect.processing.lags`)."""
    return tuple(c.name for c in stream_consumers())
