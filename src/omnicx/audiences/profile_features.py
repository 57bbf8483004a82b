"""The behavioural features of profiles that personas and lookalikes work on: the table's
columns, their validation, and the space profiles become points in (docs/personas.md#features).

One row per profile: `profile_id` (text), the REQUIRED_FEATURES (numbers, 0 or more), a
true/false column `channel_<name>` per channel (web, store_pos, ...) and, optionally,
`category_<name>` shares of purchases (0 to 1). Other columns are ignored. Skewed counts and
money are log1p-transformed, every feature is standardised on the population, and each
behaviour (recency, frequency, monetary, engagement, channels, categories) weighs the same
however many columns it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from omnicx.audiences.insight_phrases import insight_wording as _say
from omnicx.wording import WordedError, Wording

REQUIRED_FEATURES: Final = (
    "recency_days",
    "orders",
    "lifetime_value",
    "events",
    "events_last_30_days",
    "channels",
)
"""Days since last seen, completed orders, lifetime value, events, events in the last 30
days, and the number of channels used."""
CHANNEL_PREFIX: Final = "channel_"
CATEGORY_PREFIX: Final = "category_"
SKEWED: Final = frozenset(
    {"recency_days", "orders", "lifetime_value", "events", "events_last_30_days"}
)
"""Counts, days and money: log1p before standardising, so a few huge values do not decide."""
BEHAVIOURS: Final = {
    "recency_days": "recency",
    "orders": "frequency",
    "lifetime_value": "monetary",
    "events": "engagement",
    "events_last_30_days": "engagement",
    "channels": "channels",
}
"""Feature -> behaviour; channel_* columns belong to `channels`, category_* to `categories`."""

FloatArray = npt.NDArray[np.float64]


class FeatureError(WordedError):
    """The feature table cannot be used; the message (one wording per problem) says what to
    fix."""


@dataclass(frozen=True, slots=True)
class ProfileFeatures:
    """The validated feature table: profile ids and one float array per feature column."""

    ids: npt.NDArray[np.object_]
    columns: Mapping[str, FloatArray]
    """Feature name -> values (true/false as 1/0), in the table's order."""

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class FeatureSpace:
    """How features become points, fitted on the population: log1p for SKEWED features, then
    (value - centre) / spread, times the feature's behaviour weight."""

    features: tuple[str, ...]
    skewed: tuple[bool, ...]
    centre: FloatArray
    spread: FloatArray
    weight: FloatArray
    """1/sqrt(columns of the feature's behaviour): every behaviour has the same variance."""
    dropped: tuple[str, ...]
    """Columns that were the same for every profile: they set nobody apart."""

    def points(self, features: ProfileFeatures) -> npt.NDArray[np.float32]:
        """Each profile as a point (rows) in the space (columns, as `features`)."""
        missing = [name for name in self.features if name not in features.columns]
        if missing:
            raise FeatureError(_say("columns_lacking", columns=", ".join(missing)))
        out = np.empty((len(features), len(self.features)), dtype=np.float32)
        for j, name in enumerate(self.features):
            values = features.columns[name]
            if self.skewed[j]:
                values = np.log1p(values)
            out[:, j] = (values - self.centre[j]) / self.spread[j] * self.weight[j]
        return out


def read_features(frame: Any, *, min_profiles: int = 1) -> ProfileFeatures:
    """The validated features of a pyarrow Table (or anything `pyarrow.table` accepts, such as
    a pandas DataFrame); raises FeatureError naming every problem found."""
    table = _as_table(frame)
    names = table.column_names
    problems: list[Wording] = []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FeatureError(_say("columns_repeated", columns=", ".join(repeated)))
    missing = [name for name in ("profile_id", *REQUIRED_FEATURES) if name not in names]
    if missing:
        problems.append(_say("columns_missing", columns=", ".join(missing)))
    if "profile_id" in names:
        problems.extend(_id_problems(table.column("profile_id")))
    wanted = [
        n
        for n in names
        if n in REQUIRED_FEATURES or n.startswith((CHANNEL_PREFIX, CATEGORY_PREFIX))
    ]
    columns: dict[str, FloatArray] = {}
    for name in wanted:
        values, problem = _feature_values(name, table.column(name))
        if problem:
            problems.append(problem)
        else:
            columns[name] = values
    if table.num_rows < min_profiles:
        problems.append(_say("too_few_profiles", count=table.num_rows, needed=min_profiles))
    if problems:
        raise FeatureError(*problems)
    ids = table.column("profile_id").to_numpy(zero_copy_only=False).astype(object)
    order = list(REQUIRED_FEATURES) + [n for n in wanted if n not in REQUIRED_FEATURES]
    return ProfileFeatures(ids=ids, columns={n: columns[n] for n in order})


def fit_space(features: ProfileFeatures) -> FeatureSpace:
    """The feature space of this population; FeatureError when no feature varies."""
    kept: list[str] = []
    dropped: list[str] = []
    centre: list[float] = []
    spread: list[float] = []
    for name, values in features.columns.items():
        if np.ptp(values) == 0:
            dropped.append(name)
            continue
        transformed = np.log1p(values) if name in SKEWED else values
        deviation = float(transformed.std())
        kept.append(name)
        centre.append(float(transformed.mean()))
        spread.append(deviation)
    if not kept:
        raise FeatureError(_say("nothing_varies"))
    behaviours = [behaviour_of(name) for name in kept]
    weight = [1.0 / np.sqrt(behaviours.count(b)) for b in behaviours]
    return FeatureSpace(
        features=tuple(kept),
        skewed=tuple(name in SKEWED for name in kept),
        centre=np.array(centre),
        spread=np.array(spread),
        weight=np.array(weight),
        dropped=tuple(dropped),
    )


def behaviour_of(feature: str) -> str:
    """The behaviour a feature measures (recency, frequency, monetary, ...)."""
    if feature.startswith(CHANNEL_PREFIX):
        return "channels"
    if feature.startswith(CATEGORY_PREFIX):
        return "categories"
    return BEHAVIOURS[feature]


def _as_table(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    try:
        return pa.table(frame)
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise FeatureError(
            _say("not_a_table", type=type(frame).__name__, detail=str(error))
        ) from error


def _id_problems(column: pa.ChunkedArray) -> list[Wording]:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return [_say("id_not_text", type=str(column.type))]
    problems = []
    if column.null_count:
        problems.append(_say("id_empty", count=column.null_count))
    counted = pc.value_counts(column.drop_null())
    repeated = counted.filter(pc.greater(counted.field("counts"), 1))
    if len(repeated):
        examples = ", ".join(repr(v) for v in repeated.field("values").to_pylist()[:3])
        problems.append(_say("id_repeated", count=len(repeated), examples=examples))
    return problems


def _feature_values(name: str, column: pa.ChunkedArray) -> tuple[FloatArray, Wording | None]:
    """The column as floats, or the problem with it."""
    kind = column.type
    empty: FloatArray = np.empty(0)
    if pa.types.is_null(kind):
        return empty, _missing(name, len(column))
    if pa.types.is_boolean(kind):
        if column.null_count:
            return empty, _missing(name, column.null_count)
        return column.to_numpy(zero_copy_only=False).astype(np.float64), None
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        return empty, _say("not_numbers", name=name, type=str(kind))
    values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    missing = int(np.count_nonzero(np.isnan(values)))
    if missing:
        return empty, _missing(name, missing)
    if not np.isfinite(values).all():
        return empty, _say("infinite", name=name)
    if len(values) and values.min() < 0:
        return empty, _say("negative", name=name, lowest=float(values.min()))
    if name.startswith(CHANNEL_PREFIX) and not np.isin(values, (0.0, 1.0)).all():
        return empty, _say("not_true_false", name=name)
    if name.startswith(CATEGORY_PREFIX) and len(values) and values.max() > 1:
        return empty, _say("not_a_share", name=name, highest=float(values.max()))
    return values, None


def _missing(name: str, count: int) -> Wording:
    hint: Wording | str = "false" if name.startswith(CHANNEL_PREFIX) else "0"
    if name == "recency_days":
        hint = _say("hint_recency")
    return _say("value_missing", name=name, count=count, hint=hint)
