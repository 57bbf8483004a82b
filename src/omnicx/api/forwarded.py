"""Who sent a request when omnicx sits behind a reverse proxy.

A proxy's own address is the peer of every request it forwards: throttling sign-ins per peer
would then lock every user out after a few failures from anyone. When the peer is one of the
trusted proxies (`OMNICX_TRUSTED_PROXIES`), the client is the nearest address in
`X-Forwarded-For` that is not itself a trusted proxy; an untrusted peer's header is ignored,
so a client cannot choose its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeAlias

from starlette.requests import Request

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str, *, name: str = "OMNICX_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """Comma-separated addresses or networks (`10.0.0.0/8`); ValueError says which is wrong."""
    found: list[Network] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{name}: {part!r} is not an IP address or network (like 10.0.0.0/8)."
            ) from None
    return tuple(found)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The address of the client behind any trusted proxies ("unknown" without a peer)."""
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer
