"""The resolution rule: which identifiers form one profile, computed from the evidence alone.

Evidence is every event that carries two or more identifiers. It is replayed in the events' own
order (their timestamp, then a key derived from source and messageId), never in arrival order,
so late and out-of-order events end in the same profiles as in-order ones, and rebuilding from
the raw events gives the same state. Each event joins its identifiers in priority order (userId,
then e-mail, then the rest); an identifier whose profile cannot join without breaking a rule
(a limit per type, a manual separation) is left out and recorded as a conflict, as Segment's
identity resolution does. Shared and blocked identifiers never reach this module.

This is a pure function of its inputs: the processing stage applies it to the components an
event batch touches, the property tests compare it with itself over permutations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from omnicx.identity.config import IdentityConfig


@dataclass(frozen=True, slots=True)
class Evidence:
    """An event that carries several identifiers (their ids, in any order)."""

    occurred_at: datetime
    order_key: int
    event_id: int
    identifier_ids: tuple[int, ...]

    @property
    def position(self) -> tuple[datetime, int]:
        """Where the event stands in the canonical order."""
        return (self.occurred_at, self.order_key)


@dataclass(frozen=True, slots=True)
class Known:
    """What the rule needs to know about an identifier."""

    type: str
    value: str
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Separation:
    """Identifiers an unmerge put apart: no profile may hold one of each side."""

    id: int
    left: frozenset[int]
    right: frozenset[int]


@dataclass(frozen=True, slots=True)
class Link:
    """One join the rule made: `joined`'s profile joined `anchor`'s because of an event."""

    event_id: int
    occurred_at: datetime
    order_key: int
    anchor: int
    joined: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """A join the rule refused."""

    event_id: int
    occurred_at: datetime
    identifier_id: int
    """The identifier the event carried that was left out."""
    anchor: int
    """The identifier (highest priority in the event) whose profile it would have joined."""
    reason: str
    """`limit`, `separated` or `bridge`."""
    detail: str


@dataclass(slots=True)
class Resolution:
    """The profiles (as sets of identifier ids) and what happened on the way."""

    profiles: list[frozenset[int]]
    links: list[Link] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass(slots=True)
class _Cluster:
    members: list[int]
    by_type: dict[str, list[datetime]]
    sides: set[tuple[int, int]]


class _Resolver:
    def __init__(
        self,
        config: IdentityConfig,
        known: Mapping[int, Known],
        separations: Sequence[Separation],
    ) -> None:
        self.config = config
        self.known = known
        self.parent: dict[int, int] = {}
        self.clusters: dict[int, _Cluster] = {}
        self.side_of: dict[int, list[tuple[int, int]]] = {}
        for separation in separations:
            for member in separation.left:
                self.side_of.setdefault(member, []).append((separation.id, 0))
            for member in separation.right:
                self.side_of.setdefault(member, []).append((separation.id, 1))

    def add(self, identifier: int) -> None:
        if identifier in self.parent:
            return
        info = self.known[identifier]
        self.parent[identifier] = identifier
        self.clusters[identifier] = _Cluster(
            [identifier], {info.type: [info.first_seen]}, set(self.side_of.get(identifier, ()))
        )

    def find(self, identifier: int) -> int:
        parent = self.parent
        root = identifier
        while parent[root] != root:
            root = parent[root]
        while parent[identifier] != root:
            parent[identifier], identifier = root, parent[identifier]
        return root

    def refusal(self, a: _Cluster, b: _Cluster, at: datetime, via: str) -> tuple[str, str] | None:
        """Why clusters a and b may not form one profile (joined through an identifier of
        type `via`), or None when they may."""
        for type_name in a.by_type.keys() & b.by_type.keys():
            rule = self.config.types[type_name]
            seen = a.by_type[type_name] + b.by_type[type_name]
            if rule.window_days is not None:
                since = at - timedelta(days=rule.window_days)
                seen = [s for s in seen if s > since]
            if len(seen) > rule.limit:
                window = f" within {rule.window_days} days" if rule.window_days else ""
                return "limit", f"{type_name}: at most {rule.limit} per profile{window}"
        for separation, side in a.sides:
            if (separation, 1 - side) in b.sides:
                return "separated", f"kept apart by unmerge #{separation}"
        if not self.config.types[via].bridges and self._known_person(a) and self._known_person(b):
            return "bridge", f"{via} does not join two profiles that both hold known identifiers"
        return None

    def _known_person(self, cluster: _Cluster) -> bool:
        return any(self.config.types[t].bridges for t in cluster.by_type)

    def union(self, a: int, b: int) -> int:
        big, small = (
            (a, b) if len(self.clusters[a].members) >= len(self.clusters[b].members) else (b, a)
        )
        target, source = self.clusters[big], self.clusters.pop(small)
        self.parent[small] = big
        target.members.extend(source.members)
        for type_name, seen in source.by_type.items():
            target.by_type.setdefault(type_name, []).extend(seen)
        target.sides |= source.sides
        return big

    def apply(self, evidence: Evidence, resolution: Resolution) -> None:
        ids = [i for i in evidence.identifier_ids if i in self.known]
        if len(ids) < 2:
            return
        ids.sort(key=self._priority)
        anchor = ids[0]
        acc = self.find(anchor)
        for identifier in ids[1:]:
            root = self.find(identifier)
            if root == acc:
                continue
            refused = self.refusal(
                self.clusters[acc],
                self.clusters[root],
                evidence.occurred_at,
                self.known[identifier].type,
            )
            if refused is not None:
                resolution.conflicts.append(
                    Conflict(
                        evidence.event_id,
                        evidence.occurred_at,
                        identifier,
                        anchor,
                        refused[0],
                        refused[1],
                    )
                )
                continue
            acc = self.union(acc, root)
            resolution.links.append(
                Link(
                    evidence.event_id, evidence.occurred_at, evidence.order_key, anchor, identifier
                )
            )

    def _priority(self, identifier: int) -> tuple[int, str, str]:
        info = self.known[identifier]
        return (self.config.rank(info.type), info.type, info.value)


def resolve(
    config: IdentityConfig,
    known: Mapping[int, Known],
    evidence: Iterable[Evidence],
    separations: Sequence[Separation] = (),
) -> Resolution:
    """Partitions the known identifiers into profiles by replaying the evidence in order."""
    resolver = _Resolver(config, known, separations)
    for identifier in sorted(known):
        resolver.add(identifier)
    resolution = Resolution(profiles=[])
    for item in sorted(evidence, key=lambda e: (e.occurred_at, e.order_key, e.event_id)):
        resolver.apply(item, resolution)
    groups: dict[int, list[int]] = {}
    for identifier in known:
        groups.setdefault(resolver.find(identifier), []).append(identifier)
    resolution.profiles = [frozenset(members) for members in groups.values()]
    return resolution


def connected_before(
    links: Iterable[Link], identifiers: Iterable[int], position: tuple[datetime, int]
) -> bool:
    """Whether the links made before `position` already join all of `identifiers`.

    When they do, an event at `position` carrying these identifiers changes nothing, even if
    it arrives late: the replay would find them in one profile already.
    """
    wanted = list(dict.fromkeys(identifiers))
    if len(wanted) < 2:
        return True
    parent: dict[int, int] = {}

    def find(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for link in links:
        if (link.occurred_at, link.order_key) < position:
            parent[find(link.anchor)] = find(link.joined)
    root = find(wanted[0])
    return all(find(i) == root for i in wanted[1:])
