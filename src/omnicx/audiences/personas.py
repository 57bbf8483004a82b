"""Personas: customers clustered on how they behave, each described in words and numbers a
marketer reads (docs/personas.md).

    result = find_personas(features)        # a pyarrow Table, one row per profile
    for persona in result.personas:
        print(persona.description)          # "Store-first regulars: 18% of customers; ..."
    result.assignments                      # profile_id -> persona_id
    assign_personas(result, new_features)   # later profiles, same personas

The feature table and the space profiles are clustered in come from profile_features, which
lookalikes share. The number of personas is chosen by silhouette on a sample unless given; the
final KMeans starts from the sample's centres and runs on every profile, with a fixed
random_state, so the same table gives the same personas.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sklearn.cluster import KMeans  # type: ignore[import-untyped]
from sklearn.metrics import pairwise_distances_argmin, silhouette_score  # type: ignore[import-untyped]

from omnicx.audiences import personas_text
from omnicx.audiences.insight_phrases import insight_wording as _say
from omnicx.audiences.profile_features import (
    FeatureError,
    FeatureSpace,
    FloatArray,
    ProfileFeatures,
    fit_space,
    read_features,
)

__all__ = [
    "Distinction",
    "FeatureError",
    "Persona",
    "PersonaResult",
    "assign_personas",
    "find_personas",
]

MIN_PROFILES: Final = 20
MIN_PROFILES_PER_PERSONA: Final = 5
K_RANGE: Final = (2, 8)
SELECTION_SAMPLE: Final = 20_000
"""Profiles (at most) on which each candidate number of personas is clustered."""
SILHOUETTE_SAMPLE: Final = 5_000
"""Profiles (at most) on which the silhouette of each candidate is measured."""
NAMED_DIFFERENCE: Final = personas_text.DISTINCT
"""A standardised difference from this on sets a persona apart (a "medium" effect)."""


@dataclass(frozen=True, slots=True)
class Distinction:
    """How a persona differs from everyone on one feature."""

    feature: str
    value: float
    """The persona's mean, in the feature's own units (a share for channel_* columns)."""
    population: float
    """Everyone's mean."""
    median: float
    population_median: float
    difference: float
    """Standardised difference: (persona mean - everyone's mean) / everyone's standard
    deviation, on the transformed (log1p) scale the clustering uses."""

    @property
    def ratio(self) -> float | None:
        """The persona's mean over everyone's, None when everyone's is 0."""
        return self.value / self.population if self.population else None


@dataclass(frozen=True, slots=True)
class Persona:
    """A group of customers who behave alike."""

    id: int
    """1 for the largest persona, 2 for the next, ..."""
    name: str
    description: str
    size: int
    share: float
    centroid: Mapping[str, float]
    """Feature -> the members' mean, in the feature's own units."""
    medians: Mapping[str, float]
    distinctions: tuple[Distinction, ...]
    """Every feature column, most distinctive (largest absolute difference) first."""

    @property
    def distinctive(self) -> tuple[Distinction, ...]:
        """The features that set the persona apart (difference of NAMED_DIFFERENCE or more)."""
        return tuple(d for d in self.distinctions if abs(d.difference) >= NAMED_DIFFERENCE)


@dataclass(frozen=True, slots=True)
class PersonaResult:
    """The personas, which one each profile belongs to, and what is needed to assign more."""

    personas: tuple[Persona, ...]
    assignments: pa.Table
    """Columns profile_id (string) and persona_id (int32), in the input's row order."""
    space: FeatureSpace
    centres: npt.NDArray[np.float32]
    """Row i: the centre of persona i + 1 in the feature space."""
    silhouettes: Mapping[int, float]
    """Candidate number of personas -> its silhouette on the sample; empty when k was given."""
    random_state: int


def find_personas(
    frame: Any,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    random_state: int = 0,
) -> PersonaResult:
    """Personas of the profiles in `frame` (read_features): `k` of them, or the number in
    `k_range` with the best silhouette on a sample."""
    if k is not None and k < 2:
        raise ValueError(f"k must be at least 2 (got {k})")
    low, high = k_range
    if not 2 <= low <= high:
        raise ValueError(f"k_range must be (low, high) with 2 ≤ low ≤ high (got {k_range})")
    fewest = MIN_PROFILES_PER_PERSONA * (k or low)
    features = read_features(frame, min_profiles=max(MIN_PROFILES, fewest))
    space = fit_space(features)
    points = space.points(features)
    rng = np.random.default_rng(random_state)
    sample = points[_sample(len(points), SELECTION_SAMPLE, rng)]
    distinct = len(np.unique(sample, axis=0))
    if k is not None and distinct < k:
        raise FeatureError(_say("too_few_kinds", distinct=distinct))
    most = min(high, len(points) // MIN_PROFILES_PER_PERSONA, distinct)
    candidates = [k] if k is not None else list(range(low, most + 1))
    if not candidates:
        raise FeatureError(_say("too_alike", low=low, distinct=distinct))
    silhouettes: dict[int, float] = {}
    best: tuple[float, int, npt.NDArray[np.float32]] | None = None
    for n_clusters in candidates:
        model = KMeans(n_clusters=n_clusters, n_init=4, random_state=random_state).fit(sample)
        centres = model.cluster_centers_.astype(np.float32)
        if k is not None:
            best = (0.0, n_clusters, centres)
            break
        score = float(
            silhouette_score(
                sample,
                model.labels_,
                sample_size=min(len(sample), SILHOUETTE_SAMPLE),
                random_state=random_state,
            )
        )
        silhouettes[n_clusters] = score
        if best is None or score > best[0]:
            best = (score, n_clusters, centres)
    assert best is not None
    _, chosen, start = best
    final = KMeans(n_clusters=chosen, init=start, n_init=1, random_state=random_state)
    labels = final.fit_predict(points)
    return _result(
        features, space, points, labels, final.cluster_centers_, silhouettes, random_state
    )


def assign_personas(result: PersonaResult, frame: Any) -> pa.Table:
    """The persona of each profile in `frame` (profile_id, persona_id): the nearest centre,
    in the space the personas were found in."""
    features = read_features(frame)
    points = result.space.points(features)
    nearest = pairwise_distances_argmin(points, result.centres)
    return _assignments(features.ids, nearest.astype(np.int32) + 1)


def _result(
    features: ProfileFeatures,
    space: FeatureSpace,
    points: npt.NDArray[np.float32],
    labels: npt.NDArray[np.intp],
    centres: npt.NDArray[np.float32],
    silhouettes: Mapping[int, float],
    random_state: int,
) -> PersonaResult:
    """Personas numbered by size, largest first, with their figures and words."""
    k = len(centres)
    counts = np.bincount(labels, minlength=k)
    order = sorted((c for c in range(k) if counts[c]), key=lambda c: (-counts[c], c))
    renumber = np.zeros(k, dtype=np.intp)
    for new, old in enumerate(order):
        renumber[old] = new
    labels = renumber[labels]
    counts = counts[order]
    total = len(labels)
    by_label = np.argsort(labels, kind="stable")
    edges = np.concatenate(([0], np.cumsum(counts)))
    means = {
        n: np.bincount(labels, weights=v, minlength=len(order)) / counts
        for n, v in features.columns.items()
    }
    medians = {n: _medians(v[by_label], edges) for n, v in features.columns.items()}
    # Constant (dropped) features differ from nobody: 0.
    differences = {name: np.zeros(len(order)) for name in features.columns}
    for j, name in enumerate(space.features):
        summed = np.bincount(labels, weights=points[:, j], minlength=len(order))
        differences[name] = summed / counts / space.weight[j]
    population = {n: float(v.mean()) for n, v in features.columns.items()}
    population_median = {n: float(np.median(v)) for n, v in features.columns.items()}
    personas: list[Persona] = []
    names: list[str] = []
    for c in range(len(order)):
        distinctions = sorted(
            (
                Distinction(
                    feature=name,
                    value=float(means[name][c]),
                    population=population[name],
                    median=float(medians[name][c]),
                    population_median=population_median[name],
                    difference=float(differences[name][c]),
                )
                for name in features.columns
            ),
            key=lambda d: (-abs(d.difference), d.feature),
        )
        share = counts[c] / total
        name = personas_text.unique_name(personas_text.persona_name(distinctions), names)
        names.append(name)
        personas.append(
            Persona(
                id=c + 1,
                name=name,
                description=personas_text.describe(name, share, distinctions),
                size=int(counts[c]),
                share=float(share),
                centroid={n: float(m[c]) for n, m in means.items()},
                medians={n: float(m[c]) for n, m in medians.items()},
                distinctions=tuple(distinctions),
            )
        )
    return PersonaResult(
        personas=tuple(personas),
        assignments=_assignments(features.ids, labels + 1),
        space=space,
        centres=np.asarray(centres, dtype=np.float32)[order],
        silhouettes=dict(silhouettes),
        random_state=random_state,
    )


def _medians(grouped: FloatArray, edges: npt.NDArray[np.intp]) -> FloatArray:
    """The median of each group of `grouped` (values sorted by group; group i from edges[i])."""
    return np.array([np.median(grouped[a:b]) for a, b in itertools.pairwise(edges)])


def _assignments(
    ids: npt.NDArray[np.object_], persona_ids: npt.NDArray[np.integer[Any]]
) -> pa.Table:
    return pa.table(
        {
            "profile_id": pa.array(ids, type=pa.string()),
            "persona_id": pa.array(persona_ids.astype(np.int32), type=pa.int32()),
        }
    )


def _sample(n: int, size: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Row numbers of a random sample of `size` rows (all rows, in order, when n ≤ size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))
