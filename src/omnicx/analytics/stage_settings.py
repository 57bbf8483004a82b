"""The journey stage model: which events and traits put a person in which stage.

One TOML (or JSON) document, stored in the database (stage_settings_store.py) by `omnicx
stages configure` or `PUT /api/analytics/stages/settings`, so every report uses the same model
(docs/analytics/stages.md). Stages are listed in funnel order; a person is in the furthest
stage whose rule has fired, and churned when no active event came for `churn.after_days`
after reaching `churn.from` or a later stage.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from omnicx.analytics.scope import Filter, ScopeError

CHURNED = "churned"
"""The stage of a person who stopped: not a funnel step, a detour they can come back from."""
NEW = "new"
"""What flows start from for a person not yet in any stage."""
RESERVED = frozenset({CHURNED, NEW})
MAX_STAGES = 20

DEFAULT_DOCUMENT = """\
# The journey stage model (docs/analytics/stages.md). Stages in funnel order: a person is in
# the furthest stage one of whose rules has fired. Rules: events, types, channels, where
# (filters such as "properties.rating>=4"), traits ("nps>=9"), count (the Nth matching
# event), include_passive (count what happened to the customer, e.g. an e-mail delivered).

[churn]
after_days = 90       # churned after this many days without an active event...
from = "purchase"     # ...once the person reached this stage or a later one

[[stages]]
name = "awareness"
description = "Anything the customer did: a visit, an app session, a store visit, a call."
rules = [{}]

[[stages]]
name = "consideration"
description = "Looked at products, searched, filled a cart, subscribed or signed up."
rules = [
  { events = ["Product Viewed", "Products Searched", "Product Added", "Cart Viewed",
              "Checkout Started", "Newsletter Subscribed", "Signed Up"] },
]

[[stages]]
name = "purchase"
description = "A first order, on any channel."
rules = [{ events = ["Order Completed"] }]

[[stages]]
name = "retention"
description = "A second order."
rules = [{ events = ["Order Completed"], count = 2 }]

[[stages]]
name = "advocacy"
description = "Recommends the brand: a good review, a share, a referral, a promoter score."
rules = [
  { events = ["Product Reviewed", "Review Submitted"], where = ["properties.rating>=4"] },
  { events = ["Product Shared", "Cart Shared", "Referral Sent"] },
  { events = ["Comment Posted", "Message Sent"], where = ["properties.sentiment=positive"] },
  { events = ["Survey Answered", "NPS Submitted"], where = ["properties.score>=9"] },
  { traits = ["nps>=9"] },
]
"""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RULE_KEYS = ("events", "types", "channels", "where", "traits", "count", "include_passive")


class StageSettingsError(ValueError):
    """The stage model is invalid; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class StageRule:
    """When a stage's rule fires: at the `count`-th event matching every condition given
    (no condition: any event); only events the customer did unless `include_passive`."""

    events: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    where: tuple[Filter, ...] = ()
    traits: tuple[Filter, ...] = ()
    """Conditions on the traits an event carried (`traits.NAME` filters)."""
    count: int = 1
    include_passive: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The rule as a settings document writes it (defaults left out)."""
        out: dict[str, Any] = {}
        for key in ("events", "types", "channels"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.where:
            out["where"] = [f"{f.field}{f.op}{f.value}" for f in self.where]
        if self.traits:
            out["traits"] = [
                f"{f.field.removeprefix('traits.')}{f.op}{f.value}" for f in self.traits
            ]
        if self.count != 1:
            out["count"] = self.count
        if self.include_passive:
            out["include_passive"] = True
        return out


@dataclass(frozen=True, slots=True)
class Stage:
    """One funnel stage; entered when any of its rules fires."""

    name: str
    rules: tuple[StageRule, ...]
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The stage as a settings document writes it."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


@dataclass(frozen=True, slots=True)
class ChurnRule:
    """Churned: no active event (nor stage entry) for `after_days` days once the person
    reached `from_stage` or a later stage."""

    after_days: int
    from_stage: str


@dataclass(frozen=True, slots=True)
class StageModel:
    """The stages in funnel order, and the churn rule (None: nobody churns)."""

    stages: tuple[Stage, ...]
    churn: ChurnRule | None

    @property
    def names(self) -> tuple[str, ...]:
        """Every stage a person can be in, funnel order, `churned` last (when it applies)."""
        funnel = tuple(s.name for s in self.stages)
        return (*funnel, CHURNED) if self.churn else funnel

    def index(self, name: str) -> int:
        """A stage's place in `names`."""
        return self.names.index(name)

    def to_dict(self) -> dict[str, Any]:
        """The model as a settings document (JSON form)."""
        out: dict[str, Any] = {}
        if self.churn:
            out["churn"] = {"after_days": self.churn.after_days, "from": self.churn.from_stage}
        else:
            out["churn"] = {"enabled": False}
        out["stages"] = [s.to_dict() for s in self.stages]
        return out


def _fail(name: str, key: str, problem: str) -> StageSettingsError:
    return StageSettingsError(f"{name} key {key!r}: {problem}")


def _names(name: str, key: str, value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise _fail(name, key, f"expected a non-empty list of names, got {value!r}")
    return tuple(value)


def _filters(name: str, key: str, value: Any, prefix: str = "") -> tuple[Filter, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(
            name, key, f'expected a list of conditions such as ["{prefix or "properties."}x>=4"]'
        )
    try:
        return tuple(Filter.parse(prefix + text) for text in value)
    except ScopeError as exc:
        raise _fail(name, key, str(exc)) from None


def _rule(name: str, key: str, raw: Any) -> StageRule:
    if not isinstance(raw, dict):
        raise _fail(name, key, "expected a table of conditions (an empty table: any event)")
    unknown = sorted(set(raw) - set(_RULE_KEYS))
    if unknown:
        raise _fail(
            name, f"{key}.{unknown[0]}", f"unknown setting; expected {', '.join(_RULE_KEYS)}"
        )
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise _fail(name, f"{key}.count", f"expected a whole number from 1 to 1000, got {count!r}")
    passive = raw.get("include_passive", False)
    if not isinstance(passive, bool):
        raise _fail(name, f"{key}.include_passive", f"expected true or false, got {passive!r}")
    traits = _filters(name, f"{key}.traits", raw["traits"], "traits.") if "traits" in raw else ()
    return StageRule(
        events=_names(name, f"{key}.events", raw["events"]) if "events" in raw else (),
        types=_names(name, f"{key}.types", raw["types"]) if "types" in raw else (),
        channels=_names(name, f"{key}.channels", raw["channels"]) if "channels" in raw else (),
        where=_filters(name, f"{key}.where", raw["where"]) if "where" in raw else (),
        traits=traits,
        count=count,
        include_passive=passive,
    )


def _stage(name: str, key: str, raw: Any) -> Stage:
    if not isinstance(raw, dict):
        raise _fail(name, key, "expected a table with name, description and rules")
    unknown = sorted(set(raw) - {"name", "description", "rules"})
    if unknown:
        raise _fail(
            name, f"{key}.{unknown[0]}", "unknown setting; expected name, description, rules"
        )
    stage_name = raw.get("name")
    if not isinstance(stage_name, str) or not _NAME.match(stage_name):
        raise _fail(
            name, f"{key}.name", f"expected lower-case letters, digits and _, got {stage_name!r}"
        )
    if stage_name in RESERVED:
        raise _fail(name, f"{key}.name", f"{stage_name!r} is reserved; choose another name")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(name, f"{key}.description", "expected text")
    rules = raw.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _fail(name, f"{key}.rules", "expected a non-empty list of rules ([{}]: any event)")
    return Stage(
        stage_name,
        tuple(_rule(name, f"{key}.rules[{n}]", r) for n, r in enumerate(rules, 1)),
        description,
    )


def _churn(name: str, raw: Any, stages: Sequence[Stage]) -> ChurnRule | None:
    if not isinstance(raw, dict):
        raise _fail(name, "churn", "expected a table with after_days, from and enabled")
    unknown = sorted(set(raw) - {"after_days", "from", "enabled"})
    if unknown:
        raise _fail(
            name, f"churn.{unknown[0]}", "unknown setting; expected after_days, from, enabled"
        )
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(name, "churn.enabled", f"expected true or false, got {enabled!r}")
    days = raw.get("after_days", 90)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise _fail(
            name, "churn.after_days", f"expected a whole number from 1 to 3650, got {days!r}"
        )
    names = [s.name for s in stages]
    default_from = "purchase" if "purchase" in names else names[0]
    from_stage = raw.get("from", default_from)
    if from_stage not in names:
        raise _fail(
            name, "churn.from", f"expected one of the stages {', '.join(names)}, got {from_stage!r}"
        )
    return ChurnRule(days, from_stage) if enabled else None


def parse_model(document: Mapping[str, Any], *, name: str = "stage settings") -> StageModel:
    """Checks a settings document and builds the model, naming any bad key."""
    unknown = sorted(set(document) - {"stages", "churn"})
    if unknown:
        raise _fail(name, unknown[0], "unknown setting; expected stages, churn")
    raw = document.get("stages")
    if not isinstance(raw, list) or not raw:
        raise _fail(name, "stages", "expected a list of stages in funnel order ([[stages]] tables)")
    if len(raw) > MAX_STAGES:
        raise _fail(name, "stages", f"at most {MAX_STAGES} stages, got {len(raw)}")
    stages = tuple(_stage(name, f"stages[{n}]", s) for n, s in enumerate(raw, 1))
    seen: set[str] = set()
    for n, stage in enumerate(stages, 1):
        if stage.name in seen:
            raise _fail(name, f"stages[{n}].name", f"the stage {stage.name!r} is listed twice")
        seen.add(stage.name)
    return StageModel(stages, _churn(name, document.get("churn", {}), stages))


def load_text(text: str, *, name: str = "stage settings") -> StageModel:
    """Parses a model from TOML or JSON text (JSON when it starts with `{`)."""
    try:
        document = orjson.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StageSettingsError(f"{name}: not valid TOML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise StageSettingsError(f"{name}: expected a table of settings")
    return parse_model(document, name=name)


DEFAULT_MODEL = load_text(DEFAULT_DOCUMENT, name="built-in stage settings")


def default_model() -> StageModel:
    """The model used until `omnicx stages configure` stores another."""
    return DEFAULT_MODEL
