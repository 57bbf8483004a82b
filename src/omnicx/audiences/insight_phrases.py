"""Every word personas and lookalikes say when they cannot be computed: the problems of the
behaviour table (profile_features), of a lookalike seed and of a number of personas.

Templates use `str.format` fields and are marked with `N_` for the console's message
catalogs, as phrases.ERRORS are: the API and the CLI show the English, the console its
reader's language (omnicx.wording).
"""

from __future__ import annotations

from typing import Any

from omnicx.wording import N_, Wording, worded

INSIGHT_ERRORS: dict[str, str] = {
    # The behaviour table (profile_features).
    "not_a_table": N_(
        "expected a pyarrow Table or a pandas DataFrame of features, got {type}: {detail}"
    ),
    "columns_repeated": N_("column(s) {columns} appear more than once"),
    "columns_missing": N_("missing column(s) {columns} (docs/personas.md#features)"),
    "columns_lacking": N_("the feature table lacks column(s) {columns}"),
    "too_few_profiles": N_("{count} profile(s): at least {needed} are needed"),
    "nothing_varies": N_(
        "every feature column has the same value for every profile: nothing sets customers apart"
    ),
    "id_not_text": N_("profile_id must be text (got {type})"),
    "id_empty": N_("profile_id is empty in {count} row(s)"),
    "id_repeated": N_(
        "{count} profile_id(s) appear more than once, e.g. {examples}: one row per profile"
    ),
    "not_numbers": N_("{name} must be numbers (got {type})"),
    "value_missing": N_("{name} is missing for {count} profile(s): fill it in (e.g. {hint})"),
    "hint_recency": N_("the days since the profile was created"),
    "infinite": N_("{name} has infinite values"),
    "negative": N_(
        "{name} has negative values (lowest {lowest:g}): counts, days and money are 0 or more"
    ),
    "not_true_false": N_("{name} must be true/false (or 1/0)"),
    "not_a_share": N_("{name} is a share: values from 0 to 1 (highest {highest:g})"),
    # Lookalikes.
    "n_too_small": N_("n must be at least {low} (got {n})"),
    "seed_one_id": N_("the seed is a collection of profile ids, not one id: use [id]"),
    "seed_not_text": N_("seed profile ids must be text"),
    "seed_empty": N_("the seed is empty: give the profile ids of the segment's members"),
    "seed_unknown": N_("{count} seed profile id(s) are not in the feature table, e.g. {examples}"),
    # Personas.
    "too_few_kinds": N_(
        "only {distinct} different kinds of profile in the sample: ask for at most "
        "{distinct} personas"
    ),
    "too_alike": N_(
        "the profiles are too alike to split into {low} or more personas: "
        "{distinct} different kind(s) of profile"
    ),
}
"""The problems' templates (docs/personas.md)."""


def insight_wording(code: str, **fields: Any) -> Wording:
    """The message `code` of INSIGHT_ERRORS with its fields."""
    return worded(INSIGHT_ERRORS, code, fields)
