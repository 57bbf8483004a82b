"""The Splink model behind matching: cleaned columns, comparisons, blocking, training, scoring.

Everything runs in one in-memory DuckDB database. Each compared column is cleaned in SQL into
a column with a safe name (`f3_surname`), so any column name works. Blocking rules are chosen
by counting, for every compared column and every pair of loose columns, how many record pairs
agree exactly: the rules that stay under budgets proportional to the number of records are
kept, so a true pair is scored when it agrees exactly on any one of many keys. Training needs
no labels: u by random sampling; m by expectation maximisation on the most selective rules,
until every comparison has been estimated, with a floor so that no level becomes proof; and
the share of matching pairs by expectation maximisation over the scored pairs.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import duckdb
import pyarrow as pa

from omnicx.identity.matching_inference import MISSING_VALUES, Field

Progress = Callable[[str, str], None]
"""Called with (phase, what is being done) as matching goes: reading, training, predicting..."""

U_PAIRS = (150_000, 15, 2_000_000)
"""Random record pairs compared to estimate u (how often non-matches agree by chance): this
many per record, at least the first figure and at most the last."""
M_FLOOR = 1e-4
"""No level's m probability (its share among matches) is taken to be below this."""
EM_ITERATIONS = (25, 5, 1)
"""Iterations of expectation maximisation, and fewer to retry with when a session fails."""
EM_MAX_PAIRS = 1_000_000
"""Blocked pairs used at most per expectation-maximisation session (a sample beyond)."""
SINGLE_PAIRS_PER_RECORD = 2
"""A blocking rule on one column is kept when it yields at most this many pairs per record
(or 10,000); a looser column is only used in rules on two columns."""
PAIR_COLUMNS = 8
"""Rules on two columns are sought among this many columns at most (the most selective)."""
RULE_PAIRS_PER_RECORD = 10
"""A blocking rule on two columns is kept when it yields at most this many pairs per record
(or 10,000)."""
TOTAL_PAIRS_PER_RECORD = 50
"""All blocking rules together yield at most this many pairs per record (or 100,000)."""
COMPARE_ALL_BELOW = 100_000
"""With fewer possible pairs than this, every pair is compared (no blocking)."""


@dataclass(frozen=True, slots=True)
class Column:
    """A compared field and the name of its cleaned column in the database."""

    field: Field
    name: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A blocking rule: pairs that agree exactly on every one of `columns`; `pairs` of them."""

    columns: tuple[Column, ...]
    pairs: int


@dataclass(frozen=True, slots=True)
class Scored:
    """What the model found: the pairs at or above the threshold and how it got there."""

    pairs: pa.Table
    blocking: tuple[Rule, ...]
    training: tuple[Rule, ...]
    compared_pairs: int
    possible_pairs: int
    match_share: float


def safe_columns(fields: Sequence[Field]) -> list[Column]:
    """Gives each compared field a column name that is safe in SQL: f0_given_name, f1_..."""
    columns = []
    for index, field in enumerate(fields):
        slug = "".join(c if c.isascii() and c.isalnum() else "_" for c in field.column.lower())
        slug = "_".join(part for part in slug.split("_") if part)[:30]
        columns.append(Column(field, f"f{index}_{slug}" if slug else f"f{index}"))
    return columns


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def clean_sql(column: Column, raw_name: str) -> list[tuple[str, str]]:
    """SQL expressions (and their names) for a field's cleaned column(s) from the raw column
    `raw_name`."""
    raw = f"trim({_quote(raw_name)})"
    missing = ", ".join(_literal(v) for v in MISSING_VALUES)
    kind = column.field.kind
    if kind in ("name", "fullname"):
        value = f"trim(regexp_replace(lower({raw}), '[\\s.,;:_\"()]+', ' ', 'g'))"
    elif kind == "date":
        # As matching_inference.date_head: the date part of `2024-01-31T10:00:00`.
        head = f"split_part(replace({raw}, 'T', ' '), ' ', 1)"
        tries = [f"try_strptime({head}, {_literal(f)})::DATE" for f in column.field.date_formats]
        value = f"coalesce({', '.join(tries)})" if tries else "NULL::DATE"
    elif kind in ("postcode", "identifier", "number"):
        value = f"upper(regexp_replace({raw}, '[\\s./-]+', '', 'g'))"
    elif kind == "phone":
        value = f"regexp_replace({raw}, '[^0-9]+', '', 'g')"
    elif kind == "text":
        value = f"regexp_replace(lower({raw}), '\\s+', ' ', 'g')"
    else:  # email, exact
        value = f"lower({raw})"
    if kind != "date":
        value = f"nullif({value}, '')"
    cleaned = f"CASE WHEN lower({raw}) IN ('', {missing}) THEN NULL ELSE {value} END"
    if kind != "fullname":
        return [(cleaned, column.name)]
    words = f"array_to_string(list_sort(string_split({column.name}, ' ')), ' ')"
    return [(cleaned, column.name), (words, column.name + "_words")]


SWAPS = (("name", ("a given name", "a surname")), ("text", ("an address line",)))
"""Columns whose values often end up in one another (a surname typed as the given name, the
two address lines swapped): a value found in the other column is a level of its own."""


def partners(columns: Sequence[Column]) -> dict[str, list[str]]:
    """For each cleaned column, the columns of its swap group (see SWAPS) besides itself."""
    found: dict[str, list[str]] = {}
    for kind, roles in SWAPS:
        group = [c for c in columns if c.field.kind == kind and c.field.role in roles]
        if len(group) < 2 or len({c.field.role for c in group}) < len(roles):
            continue  # a given name alone, or given names without a surname: nothing to swap
        for column in group:
            found[column.name] = [c.name for c in group if c is not column]
    return found


def comparison(column: Column, others: Sequence[str] = ()) -> Any:
    """The Splink comparison for a field, by its kind (see matching_inference.KINDS);
    `others` are the columns its values may have been swapped with."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    name, kind = column.name, column.field.kind
    if kind == "name" and not others:
        return cl.NameComparison(name)
    if kind == "date":
        return cl.DateOfBirthComparison(name, input_is_string=False)
    if kind == "email":
        return cl.EmailComparison(name)
    if kind == "exact":
        return cl.ExactMatch(name)
    levels: list[Any] = [cll.NullLevel(name)]
    if kind == "name":
        levels.append(cll.ExactMatchLevel(name).configure(tf_adjustment_column=name))
    else:
        levels.append(cll.ExactMatchLevel(name))
    if others:
        swapped = " OR ".join(f"{name}_l = {o}_r OR {name}_r = {o}_l" for o in others)
        levels.append(cll.CustomLevel(swapped, label_for_charts="Found in the other column"))
    if kind == "name":
        levels += [cll.JaroWinklerLevel(name, t) for t in (0.92, 0.88, 0.7)]
    elif kind == "fullname":
        words = name + "_words"
        levels.append(
            cll.CustomLevel(f"{words}_l = {words}_r", label_for_charts="Same words, any order")
        )
        levels += [cll.JaroWinklerLevel(name, 0.92), cll.JaroWinklerLevel(name, 0.8)]
    elif kind == "phone":
        levels.append(
            cll.CustomLevel(
                f"length({name}_l) >= 9 AND length({name}_r) >= 9 "
                f"AND right({name}_l, 9) = right({name}_r, 9)",
                label_for_charts="Same last 9 digits",
            )
        )
        levels.append(cll.LevenshteinLevel(name, 1))
    elif kind == "identifier":
        levels += [cll.LevenshteinLevel(name, 1), cll.LevenshteinLevel(name, 2)]
    elif kind in ("postcode", "number"):
        levels.append(cll.LevenshteinLevel(name, 1))
    else:  # text
        levels += [cll.JaroWinklerLevel(name, 0.9), cll.JaroWinklerLevel(name, 0.7)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=name)


def prepare(
    con: duckdb.DuckDBPyConnection,
    side: str,
    table: pa.Table,
    id_column: str,
    columns: Sequence[Column],
) -> str:
    """Loads a side into the database with its cleaned columns; returns the table's name."""
    raw, cleaned = f"raw_{side}", f"side_{side}"
    # Raw columns get plain names too: a column may be called "" or hold quotes.
    picked = table.select([id_column, *(c.field.column for c in columns)])
    con.register(raw, picked.rename_columns([f"r{i}" for i in range(picked.num_columns)]))
    selected = ["r0 AS unique_id"]
    derived = []
    for index, column in enumerate(columns, 1):
        (sql, name), *extra = clean_sql(column, f"r{index}")
        selected.append(f"{sql} AS {name}")
        derived += [f"{sql} AS {name}" for sql, name in extra]
    query = f"SELECT {', '.join(selected)} FROM {raw}"
    if derived:  # columns computed from the cleaned ones (a name's words in order)
        query = f"SELECT *, {', '.join(derived)} FROM ({query})"
    con.execute(f"CREATE TABLE {cleaned} AS {query}").fetchall()
    con.unregister(raw)
    return cleaned


def count_pairs(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], rules: Sequence[Sequence[Column]]
) -> list[int]:
    """For each rule, how many record pairs agree exactly on all its columns (an empty value
    agrees with nothing), counted in one query."""
    if not rules:
        return []

    def count(columns: Sequence[Column]) -> str:
        keys = ", ".join(c.name for c in columns)
        present = " AND ".join(f"{c.name} IS NOT NULL" for c in columns)
        groups = [
            f"(SELECT {keys}, count(*) AS n FROM {table} WHERE {present} GROUP BY ALL)"
            for table in tables
        ]
        if len(groups) == 1:
            return f"(SELECT sum(n * (n - 1) // 2) FROM {groups[0]})"
        return f"(SELECT sum(l.n * r.n) FROM {groups[0]} l JOIN {groups[1]} r USING ({keys}))"

    sql = "SELECT " + ", ".join(f"{count(rule)} AS c{i}" for i, rule in enumerate(rules))
    rows = con.execute(sql).fetchall()
    return [int(value or 0) for value in rows[0]]


def candidate_rules(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], columns: Sequence[Column], cap: int
) -> list[Rule]:
    """Every single column, and every pair of columns none of which is selective enough alone,
    with the number of pairs each yields."""
    counts = count_pairs(con, tables, [(c,) for c in columns])
    singles = [Rule((c,), n) for c, n in zip(columns, counts, strict=True)]
    # The most selective loose columns only: 8 give 28 pairs to count, 30 would give 435.
    loose = [r.columns[0] for r in sorted(singles, key=lambda r: r.pairs) if r.pairs > cap]
    combined = list(combinations(loose[:PAIR_COLUMNS], 2))
    counts = count_pairs(con, tables, combined)
    pairs = [Rule(rule, n) for rule, n in zip(combined, counts, strict=True)]
    return [r for r in singles + pairs if r.pairs > 0]


def choose_blocking(rules: Sequence[Rule], records: int) -> list[Rule]:
    """The blocking rules: each under its budget (lower for one column than for two: a true
    pair agrees on more than one column), together under the total budget."""
    single_cap = max(SINGLE_PAIRS_PER_RECORD * records, 10_000)
    rule_cap = max(RULE_PAIRS_PER_RECORD * records, 10_000)
    total_cap = max(TOTAL_PAIRS_PER_RECORD * records, 100_000)
    chosen: list[Rule] = []
    total = 0
    for rule in sorted(rules, key=lambda r: r.pairs):
        if chosen and (rule.pairs > rule_cap or total + rule.pairs > total_cap):
            break
        if chosen and len(rule.columns) == 1 and rule.pairs > single_cap:
            continue
        chosen.append(rule)
        total += rule.pairs
    # A rule on (a, b) finds nothing a kept rule on (a) does not.
    kept = {r.columns for r in chosen}
    return [
        r
        for r in chosen
        if not any(set(k) < set(r.columns) for k in kept if len(k) < len(r.columns))
    ]


def training_candidates(rules: Sequence[Rule], smaller_side: int) -> list[Rule]:
    """Rules to estimate m on, best first: the most selective ones that still yield enough
    pairs (expectation maximisation needs matches to be a fair share of the pairs), then the
    others, largest first, for comparisons none of those can estimate."""
    least = max(min(100, smaller_side // 2), 0.1 * smaller_side, 10)
    enough = sorted((r for r in rules if r.pairs >= least), key=lambda r: r.pairs)
    few = sorted((r for r in rules if r.pairs < least), key=lambda r: -r.pairs)
    return enough + few


def floored(model: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Splink model whose m probabilities are all at least M_FLOOR.

    Expectation maximisation drives the m probability of a level that no match shows in
    the training pairs (a birth date a month off, when no match has a typo there) towards
    zero, and Splink 5 refuses the exact zero it can reach. Zero would also make that level
    rule a pair out whatever else agrees; a floor keeps it strong evidence, not proof.
    """
    model = copy.deepcopy(model)
    for comparison in model.get("comparisons", []):
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        values = [level.get("m_probability") for level in levels]
        if all(v is None for v in values):
            continue  # not trained yet: Splink's defaults apply
        # None, or Splink's "level not observed" text: no match showed that level.
        numbers = [float(v) if isinstance(v, int | float) else 0.0 for v in values]
        raised = [max(v, M_FLOOR) for v in numbers]
        total = sum(raised)
        for level, value in zip(levels, raised, strict=True):
            level["m_probability"] = value / total
    return model


@contextmanager
def _quiet() -> Iterator[None]:
    """Splink's log lines and warnings stay out of the user's terminal."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def score(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    sizes: Sequence[int],
    columns: Sequence[Column],
    *,
    threshold: float,
    blocking: Sequence[Sequence[Column]] | None,
    progress: Progress,
) -> Scored:
    """Trains the model on the prepared tables and returns the pairs scored >= threshold."""
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    link = len(tables) == 2
    records = sum(sizes)
    possible = sizes[0] * sizes[1] if link else sizes[0] * (sizes[0] - 1) // 2
    smaller = min(sizes) if link else sizes[0] // 2
    single_cap = max(SINGLE_PAIRS_PER_RECORD * records, 10_000)

    progress("blocking", "counting the pairs each blocking rule yields")
    candidates = candidate_rules(con, tables, columns, single_cap)
    if blocking is not None:
        counts = count_pairs(con, tables, blocking)
        chosen = [Rule(tuple(rule), n) for rule, n in zip(blocking, counts, strict=True)]
    elif possible <= COMPARE_ALL_BELOW:
        chosen = []  # every pair
    else:
        chosen = choose_blocking(candidates, records)
    candidates_for_m = training_candidates(candidates, max(smaller, 1))
    swaps = partners(columns)
    uses = {c.name: {c.name, *swaps.get(c.name, ())} for c in columns}

    db = DuckDBAPI(con)
    registered = [
        db.register(table, table_name=f"input_{side}", dataset_display_name=side)
        for table, side in zip(tables, ("left", "right"), strict=False)
    ]
    inputs = registered if link else registered[0]
    settings = SettingsCreator(
        link_type="link_only" if link else "dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[comparison(c, swaps.get(c.name, ())) for c in columns],
        blocking_rules_to_generate_predictions=[
            block_on(*(c.name for c in rule.columns)) for rule in chosen
        ],
        probability_two_random_records_match=min(max(smaller, 1) / max(possible, 1), 0.5),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    with _quiet():
        linker = Linker(inputs, settings, log_level=None)
        least, per_record, most = U_PAIRS
        u_pairs = min(max(least, per_record * records), most, max(possible, 1))
        progress("training", f"estimating u from {u_pairs:,} random pairs")
        # One pass is quicker up to a million pairs; beyond, chunks let Splink stop early.
        chunks = 1 if u_pairs <= 1_000_000 else 10
        linker.training.estimate_u_using_random_sampling(
            max_pairs=u_pairs, seed=1, num_chunks=chunks
        )
        model = linker.misc.save_model_to_json()
        training: list[Rule] = []
        estimated: set[str] = set()
        for rule in candidates_for_m:
            # A session estimates the comparisons that use none of its rule's columns: the
            # most selective rules that estimate something new, until every comparison is.
            if len(training) == 3 or estimated >= set(uses):
                break
            blocked = {c.name for c in rule.columns}
            gains = {n for n, used in uses.items() if not used & blocked} - estimated
            if not gains:
                continue
            shown = " + ".join(c.field.column for c in rule.columns)
            progress("training", f"estimating m on pairs agreeing on {shown} ({rule.pairs:,})")
            trained = _estimate_m(inputs, model, rule)
            if trained is not None:
                model = trained
                training.append(rule)
                estimated |= gains
        progress(
            "training",
            f"u from {u_pairs:,} random pairs, m on pairs agreeing on "
            + (", ".join(" + ".join(c.field.column for c in r.columns) for r in training) or "-"),
        )
        linker = Linker(inputs, floored(model), log_level=None)
        progress("predicting", "scoring the blocked pairs")
        predictions = linker.inference.predict()
        table = predictions.physical_name
        prior = settings.probability_two_random_records_match
        share = _match_share(con, table, prior, possible)
        pairs = _above(con, table, prior, share, threshold, link)
        compared = _count(con, table)
        predictions.drop_table_from_database_and_remove_from_cache()
    return Scored(pairs, tuple(chosen), tuple(training), compared, possible, share)


def _estimate_m(inputs: Any, model: dict[str, Any], rule: Rule) -> dict[str, Any] | None:
    """The model after a session of expectation maximisation on the pairs `rule` yields, or
    None when the session fails even with fewer iterations (too few or degenerate pairs)."""
    from splink import Linker, block_on
    from splink.internals.exceptions import SplinkException

    for iterations in EM_ITERATIONS:
        start = floored(model)
        start["max_iterations"] = iterations
        linker = Linker(inputs, start, log_level=None)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*(c.name for c in rule.columns)),
                max_pairs=EM_MAX_PAIRS if rule.pairs > EM_MAX_PAIRS else None,
            )
        except (SplinkException, ValueError):
            continue  # ValueError: an m probability reached exactly 0 (see `floored`)
        trained = linker.misc.save_model_to_json()
        trained["max_iterations"] = EM_ITERATIONS[0]
        return trained
    return None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0]) if rows else 0


def _logit2(p: float) -> float:
    return math.log2(p / (1 - p))


def _match_share(con: duckdb.DuckDBPyConnection, table: str, prior: float, possible: int) -> float:
    """The share of all possible pairs that match, by expectation maximisation over the
    scored pairs with m and u fixed (pairs not scored count as non-matches)."""
    import numpy as np

    weights = con.execute(f"SELECT match_weight FROM {table}").fetchnumpy()["match_weight"]
    evidence = np.asarray(weights, dtype=np.float64) - _logit2(prior)  # log2 Bayes factors
    evidence = np.clip(np.nan_to_num(evidence, nan=0.0), -200.0, 200.0)
    if possible <= 0 or evidence.size == 0:
        return prior
    share = min(max(prior, 1e-12), 0.5)
    for _ in range(500):
        probabilities = 1.0 / (1.0 + np.exp2(-(evidence + _logit2(share))))
        updated = float(min(max(probabilities.sum() / possible, 1e-12), 0.5))
        if abs(updated - share) <= 1e-6 * share:
            return updated
        share = updated
    return share


def _above(
    con: duckdb.DuckDBPyConnection,
    table: str,
    prior: float,
    share: float,
    threshold: float,
    link: bool,
) -> pa.Table:
    """The pairs whose match probability (with the estimated share) is >= threshold."""
    shift = _logit2(share) - _logit2(prior)
    probability = f"1.0 / (1.0 + pow(2.0, -least(greatest(match_weight + {shift!r}, -200), 200)))"
    if link:
        left = "CASE WHEN source_dataset_l = 'left' THEN unique_id_l ELSE unique_id_r END"
        right = "CASE WHEN source_dataset_l = 'left' THEN unique_id_r ELSE unique_id_l END"
    else:
        left = "least(unique_id_l, unique_id_r)"
        right = "greatest(unique_id_l, unique_id_r)"
    sql = (
        f"SELECT {left} AS left_id, {right} AS right_id, {probability} AS match_probability "
        f"FROM {table} WHERE {probability} >= {threshold!r} "
        "ORDER BY match_probability DESC, left_id, right_id"
    )
    return con.sql(sql).to_arrow_table()
