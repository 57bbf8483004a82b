"""The journey analyses in pandas, for bench/analytics.py: the needed columns read with
pyarrow, then pandas operations. Same canonical answers as bench/analytics_reference.py."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from analytics_reference import (
    ORDER,
    PERIODS,
    ChannelRow,
    LakeFiles,
    churn_counts,
    churn_cutoff,
    multichannel_bands,
)
from analytics_sequences import (
    CONVERSION,
    FUNNEL_STEPS,
    HALF_LIFE_US,
    HEURISTICS,
    LOOKBACK_US,
    NULL,
    PATH_DEPTH,
    START,
    WINDOW_US,
    attribution_answer,
    funnel_answer,
    paths_answer,
)


def load(
    files: LakeFiles, columns: list[str], *, active_only: bool = False, where: Any = None
) -> pd.DataFrame:
    """The lake's events of known people as a DataFrame with `person` (int codes) and
    `columns`; text columns as categoricals."""
    texts = [c for c in columns if c in ("channel", "event", "type", "source")]
    dataset = ds.dataset(
        files.events,
        format=ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=texts)),
    )
    wanted = list(dict.fromkeys(["anchor", *columns]))
    table = dataset.to_table(
        columns=wanted, filter=ds.field("active") if active_only else where, use_threads=True
    )
    frame = table.to_pandas()
    people = pq.read_table(files.people[0] if len(files.people) == 1 else files.people)
    owners = people.to_pandas()
    if len(files.people) > 1 or ("seq" in owners and owners["anchor"].duplicated().any()):
        owners = owners.sort_values("seq").drop_duplicates("anchor", keep="last")
    owners = owners[owners["profile_id"].notna()]
    codes, _ = pd.factorize(owners["profile_id"])
    found = pd.Index(owners["anchor"].to_numpy()).get_indexer(frame["anchor"].to_numpy())
    keep = found >= 0
    frame = frame[keep]
    frame.insert(0, "person", codes[found[keep]])
    for column in texts:
        frame[column] = frame[column].cat.as_ordered()
    return frame.drop(columns="anchor") if "anchor" not in columns else frame


def _months(frame: pd.DataFrame, files: LakeFiles) -> np.ndarray:
    ts = frame["ts"].dt
    return (ts.year * 12 + ts.month - files.base_month).to_numpy()


def retention_pandas(files: LakeFiles) -> dict[tuple[date, str, int], int]:
    """As retention_sql, in pandas."""
    frame = load(files, ["ts", "channel"], active_only=True)
    frame["m"] = _months(frame, files)
    first_ts = frame.groupby("person")["ts"].transform("min")
    entries = (
        frame[frame["ts"] == first_ts]
        .groupby("person", observed=True)
        .agg(cohort=("m", "first"), channel=("channel", "min"))
    )
    active = frame[["person", "m"]].drop_duplicates().join(entries, on="person")
    active["k"] = active["m"] - active["cohort"]
    active = active[active["k"] <= PERIODS]
    counts = active.groupby(["cohort", "channel", "k"], observed=True).size()
    return {(files.month(int(c)), str(ch), int(k)): int(n) for (c, ch, k), n in counts.items()}


def lifecycle_pandas(files: LakeFiles) -> dict[tuple[date, str], int]:
    """As lifecycle_sql, in pandas."""
    frame = load(files, ["ts"], active_only=True)
    active = pd.DataFrame({"person": frame["person"].to_numpy(), "m": _months(frame, files)})
    active = active.drop_duplicates().sort_values(["person", "m"])
    grouped = active.groupby("person")["m"]
    before, after = grouped.shift(1), grouped.shift(-1)
    status = np.where(
        before.isna(), "new", np.where(before == active["m"] - 1, "returning", "resurrecting")
    )
    last = (files.last.year * 12 + files.last.month) - files.base_month
    out: Counter[tuple[date, str]] = Counter()
    for (m, s), n in active.groupby([active["m"], status]).size().items():
        out[(files.month(int(m)), str(s))] += int(n)
    dormant = active[(after.isna() | (after > active["m"] + 1)) & (active["m"] + 1 <= last)]
    for m, n in dormant.groupby("m").size().items():
        out[(files.month(int(m) + 1), "dormant")] -= int(n)
    return dict(out)


def churn_pandas(files: LakeFiles) -> dict[tuple[str, str], tuple[int, int]]:
    """As churn_sql, in pandas."""
    frame = load(files, ["ts", "channel", "event", "type"], active_only=True)
    latest = frame.groupby("person")["ts"].transform("max")
    last = frame[frame["ts"] == latest].copy()
    last["touch"] = last["event"].astype(object).fillna(last["type"].astype(object))
    last["channel"] = last["channel"].astype(object)
    last = last.sort_values(["person", "channel", "touch"]).drop_duplicates("person", keep="last")
    last["churned"] = last["ts"] < churn_cutoff(files)
    counts = last.groupby(["channel", "touch", "churned"]).size()
    return churn_counts((c, e, churned, n) for (c, e, churned), n in counts.items())


def channels_pandas(files: LakeFiles) -> dict[tuple[str, date | None], ChannelRow]:
    """As channels_sql, in pandas."""
    frame = load(files, ["channel", "ts", "active", "event", "revenue"])
    frame["m"] = _months(frame, files)
    frame["order"] = frame["event"] == ORDER
    frame["order_revenue"] = frame["revenue"].where(frame["order"], 0.0).fillna(0.0)
    per = frame.groupby(["channel", "m", "person"], observed=True).agg(
        engaged=("active", "any"), orders=("order", "sum"), revenue=("order_revenue", "sum")
    )
    out: dict[tuple[str, date | None], ChannelRow] = {}

    def add(grouped: Any, month: Any) -> None:
        figures = grouped.agg(
            reach=("engaged", "size"),
            engaged=("engaged", "sum"),
            converted=("orders", lambda s: int((s > 0).sum())),
            orders=("orders", "sum"),
            revenue=("revenue", "sum"),
        )
        for key, row in figures.iterrows():
            channel, m = key if month is None else (key, None)
            out[(str(channel), None if m is None else files.month(int(m)))] = (
                int(row["reach"]),
                int(row["engaged"]),
                int(row["converted"]),
                int(row["orders"]),
                float(row["revenue"]),
            )

    add(per.groupby(level=["channel", "m"], observed=True), None)
    totals = per.groupby(level=["channel", "person"], observed=True).agg(
        engaged=("engaged", "any"), orders=("orders", "sum"), revenue=("revenue", "sum")
    )
    add(totals.groupby(level="channel", observed=True), "all")
    return out


def multichannel_pandas(files: LakeFiles) -> dict[str, tuple[int, int, int, float]]:
    """As multichannel_sql, in pandas."""
    frame = load(files, ["channel", "active", "event", "revenue"])
    frame["order"] = frame["event"] == ORDER
    frame["order_revenue"] = frame["revenue"].where(frame["order"], 0.0).fillna(0.0)
    active = frame[frame["active"]]
    per = pd.DataFrame(
        {
            "channels": active.groupby("person")["channel"].nunique(),
            "touchpoints": active.groupby("person").size(),
        }
    )
    bought = frame.groupby("person").agg(orders=("order", "sum"), revenue=("order_revenue", "sum"))
    per = per.join(bought)
    per["customer"] = per["orders"] > 0
    rows = per.groupby(["channels", "touchpoints"]).agg(
        people=("customer", "size"),
        customers=("customer", "sum"),
        orders=("orders", "sum"),
        revenue=("revenue", "sum"),
    )
    return multichannel_bands(
        (c, t, *row) for (c, t), row in zip(rows.index, rows.values, strict=False)
    )


def attribution_pandas(files: LakeFiles) -> dict[str, Any]:
    """As attribution_sql, in pandas: the next conversion by a backward fill per person."""
    frame = load(files, ["ts", "event_id", "channel", "revenue", "event", "active"])
    conv = (frame["event"] == ORDER).to_numpy()
    frame = frame[frame["active"].to_numpy() | conv].copy()
    frame["conv"] = frame["event"] == ORDER
    frame["channel"] = frame["channel"].astype(str)
    frame = frame.sort_values(["person", "ts", "conv", "event_id"])
    ts = frame["ts"].astype("int64")  # microseconds or nanoseconds: scaled below
    scale = 1_000 if frame["ts"].dtype == "datetime64[ns]" else 1
    frame["us"] = ts // scale
    frame["journey"] = frame["event_id"].where(frame["conv"]).groupby(frame["person"]).bfill()
    frame["converted_at"] = frame["us"].where(frame["conv"]).groupby(frame["person"]).bfill()
    conversions = frame[frame["conv"]]
    points = frame[~frame["conv"]].copy()
    points["before_us"] = points["converted_at"] - points["us"]
    points = points[points["journey"].isna() | (points["before_us"] <= LOOKBACK_US)]
    lonely = conversions[~conversions["event_id"].isin(points["journey"])].copy()
    lonely["journey"] = lonely["event_id"]
    lonely["before_us"] = 0.0
    points = pd.concat([points, lonely])
    points["key"] = points["journey"].fillna(-1)
    points = points.sort_values(["person", "key", "us", "event_id"])
    group = points.groupby(["person", "key"], sort=False)
    points["position"] = group.cumcount() + 1
    points["touches"] = group["us"].transform("size")
    points["previous"] = group["channel"].shift(1)
    points["last_before_us"] = group["before_us"].transform("min")
    without = int(((points["key"] == -1) & (points["position"] == 1)).sum())
    moves = points.groupby([points["previous"].fillna(START), "channel"]).size()
    ends = points[points["position"] == points["touches"]]
    ends = ends.groupby(["channel", np.where(ends["key"] == -1, NULL, CONVERSION)]).size()
    transitions = {(s, t): float(n) for (s, t), n in pd.concat([moves, ends]).items()}
    converted = points[points["key"] != -1].join(
        conversions.set_index("event_id")["revenue"].fillna(0.0).rename("value"), on="key"
    )
    converted["decay"] = np.power(
        2.0, -(converted["before_us"] - converted["last_before_us"]) / HALF_LIFE_US
    )
    converted["decay_sum"] = converted.groupby("key")["decay"].transform("sum")
    position, touches = converted["position"], converted["touches"]
    shares = {
        "first_touch": (position == 1).astype(float),
        "last_touch": (position == touches).astype(float),
        "linear": 1.0 / touches,
        "time_decay": converted["decay"] / converted["decay_sum"],
        "position_based": np.select(
            [touches == 1, touches == 2, (position == 1) | (position == touches)],
            [1.0, 0.5, 0.4],
            0.2 / (touches - 2).clip(lower=1),
        ),
    }
    credits = {}
    for model in HEURISTICS:
        share = pd.Series(np.asarray(shares[model], dtype=float), index=converted.index)
        table = (
            pd.DataFrame(
                {"c": share, "r": share * converted["value"], "channel": converted["channel"]}
            )
            .groupby("channel")[["c", "r"]]
            .sum()
        )
        for channel, (c, r) in table.iterrows():
            credits[(str(channel), model)] = (float(c), float(r))
    totals = (len(conversions), float(conversions["revenue"].fillna(0.0).sum()), without)
    return attribution_answer(totals, credits, transitions)


def funnel_pandas(files: LakeFiles) -> dict[Any, Any]:
    """As funnel_sql, in pandas: `merge_asof` per step on a global (time, id) order."""
    frame = load(
        files, ["ts", "event_id", "event", "channel"], where=ds.field("event").isin(FUNNEL_STEPS)
    )
    frame = frame.sort_values(["ts", "event_id"], ignore_index=True)
    frame["k"] = np.arange(len(frame), dtype=np.int64)
    frame["t"] = frame["ts"].astype("int64") // (
        1_000 if frame["ts"].dtype == "datetime64[ns]" else 1
    )
    frame["step"] = frame["event"].map({s: j for j, s in enumerate(FUNNEL_STEPS, 1)}).astype(int)
    frame["b"] = frame["channel"].astype(str)
    level = frame.loc[frame["step"] == 1, ["person", "k", "t", "b"]].rename(columns={"t": "s"})
    level["d"] = 1
    levels = [level]
    for j in range(2, len(FUNNEL_STEPS) + 1):
        steps = frame.loc[frame["step"] == j, ["person", "k", "t"]]
        joined = pd.merge_asof(
            steps,
            level[["person", "k", "s", "b"]].rename(columns={"k": "q"}),
            left_on="k",
            right_on="q",
            by="person",
            allow_exact_matches=False,
        )
        level = joined[joined["s"].notna() & (joined["t"] - joined["s"] <= WINDOW_US)]
        level = level[["person", "k", "s", "b"]].assign(d=j)
        levels.append(level)
    reached = pd.concat(levels, ignore_index=True)
    reached["nd"] = -reached["d"]
    best = reached.sort_values(["person", "nd", "k"]).drop_duplicates("person")
    n = len(FUNNEL_STEPS)
    done = best[best["d"] == n]
    seconds = (frame["t"].to_numpy()[done["k"].to_numpy()] - done["s"].to_numpy()) / 1e6
    rows = best.groupby(["b", "d"]).size()
    return funnel_answer(
        [(b, d, people) for (b, d), people in rows.items()],
        float(seconds.mean()) if len(seconds) else None,
    )


def paths_pandas(files: LakeFiles) -> dict[str, Any]:
    """As paths_sql, in pandas."""
    frame = load(files, ["ts", "event_id", "channel"], active_only=True)
    frame = frame.sort_values(["person", "ts", "event_id"], ignore_index=True)
    channel = frame["channel"].cat.codes.to_numpy()
    person = frame["person"].to_numpy()
    starts = np.r_[True, person[1:] != person[:-1]]
    changed = starts | np.r_[True, channel[1:] != channel[:-1]]
    names = np.asarray(frame["channel"].cat.categories, dtype=object)
    runs = pd.DataFrame(
        {"person": person[changed], "channel": channel[changed], "first": starts[changed]}
    )
    runs["previous"] = np.where(runs["first"], -1, np.r_[-1, runs["channel"].to_numpy()[:-1]])
    moves = (
        runs[~runs["first"]]
        .groupby(["previous", "channel"])
        .agg(count=("person", "size"), people=("person", "nunique"))
    )
    transitions = [
        (names[s], names[t], row["count"], row["people"]) for (s, t), row in moves.iterrows()
    ]
    runs["run"] = runs.groupby("person").cumcount()
    head = runs[runs["run"] < PATH_DEPTH]
    paths = head.groupby("person")["channel"].agg(tuple).value_counts()
    counted = [(tuple(names[list(p)]), n) for p, n in paths.items()]
    return paths_answer(counted, transitions)
