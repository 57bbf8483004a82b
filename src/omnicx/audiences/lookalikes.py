"""Lookalikes: the profiles most like a seed segment's members who are not in it
(docs/personas.md#lookalikes).

    find_lookalikes(features, seed_ids, n=10_000)
    # rank, profile_id, similarity, nearest_seed_id: best first

Profiles are points in the personas' feature space (profile_features: log1p, standardised on
the whole population, each behaviour weighing the same). A candidate's distance to the seed
is its mean Euclidean distance to its `neighbours` nearest seed members, and its similarity
1 / (1 + that distance): 1 for a profile identical to that many seed members, towards 0 the
further away. Nearest seed members rather than the seed's centre, because seeds are often
several kinds of customer at once (store regulars and web big spenders), whose average is
like none of them; no classifier, because the non-members it would learn as "not like the
seed" are the very profiles we are ranking. Seeds larger than `max_seed` are represented by
a random sample of that size (fixed random_state), which keeps 1,000,000 profiles to seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.neighbors import NearestNeighbors  # type: ignore[import-untyped]

from omnicx.audiences.insight_phrases import insight_wording as _say
from omnicx.audiences.profile_features import fit_space, read_features
from omnicx.wording import WordedError

NEIGHBOURS: Final = 10
"""Seed members each candidate is compared with (its nearest ones)."""
MAX_SEED: Final = 1_000
"""Seed members (at most) compared with; a larger seed is sampled."""
CHUNK: Final = 65_536
"""Candidates compared at a time, which bounds memory."""


class LookalikeError(WordedError):
    """The seed or the number asked for cannot be used; the message says why."""


def find_lookalikes(
    frame: Any,
    seed: Iterable[str],
    *,
    n: int,
    neighbours: int = NEIGHBOURS,
    max_seed: int = MAX_SEED,
    random_state: int = 0,
) -> pa.Table:
    """The `n` profiles of `frame` (profile_features.read_features) not in `seed` that are
    most similar to the seed's members, best first: rank (1, 2, ...), profile_id,
    similarity (0 to 1) and nearest_seed_id (the seed member most like it). Fewer rows when
    fewer profiles are outside the seed; ties keep the table's order."""
    if n < 1:
        raise LookalikeError(_say("n_too_small", low=1, n=n))
    if neighbours < 1 or max_seed < 1:
        raise ValueError("neighbours and max_seed must be at least 1")
    if isinstance(seed, str):
        raise LookalikeError(_say("seed_one_id"))
    given = set(seed)
    if any(not isinstance(i, str) for i in given):
        raise LookalikeError(_say("seed_not_text"))
    wanted = sorted(given)
    if not wanted:
        raise LookalikeError(_say("seed_empty"))
    features = read_features(frame)
    ids = pa.array(features.ids, type=pa.string())
    in_seed = np.asarray(
        pc.is_in(ids, value_set=pa.array(wanted, type=pa.string())).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    found = int(np.count_nonzero(in_seed))
    if found < len(wanted):
        known = set(features.ids[in_seed].tolist())
        unknown = [s for s in wanted if s not in known]
        examples = ", ".join(repr(s) for s in unknown[:3])
        raise LookalikeError(_say("seed_unknown", count=len(unknown), examples=examples))
    members = np.flatnonzero(in_seed)
    candidates = np.flatnonzero(~in_seed)
    if len(candidates) == 0:
        return _table(np.empty(0, np.intp), np.empty(0), np.empty(0, np.intp), features.ids)
    if len(members) > max_seed:
        rng = np.random.default_rng(random_state)
        members = np.sort(rng.choice(members, size=max_seed, replace=False))
    space = fit_space(features)
    points = space.points(features)
    index = NearestNeighbors(n_neighbors=min(neighbours, len(members)), algorithm="brute")
    index.fit(points[members])
    similarity = np.empty(len(candidates))
    nearest = np.empty(len(candidates), dtype=np.intp)
    for start in range(0, len(candidates), CHUNK):
        rows = candidates[start : start + CHUNK]
        distances, which = index.kneighbors(points[rows])
        similarity[start : start + len(rows)] = 1.0 / (1.0 + distances.mean(axis=1))
        nearest[start : start + len(rows)] = members[which[:, 0]]
    best = _best(similarity, n)
    return _table(candidates[best], similarity[best], nearest[best], features.ids)


def _best(similarity: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.intp]:
    """Positions of the `n` highest similarities, highest first; ties in position order."""
    if n < len(similarity):
        kth = np.partition(similarity, len(similarity) - n)[len(similarity) - n]
        above = np.flatnonzero(similarity > kth)
        tied = np.flatnonzero(similarity == kth)[: n - len(above)]
        top = np.concatenate((above, tied))
    else:
        top = np.arange(len(similarity))
    return top[np.lexsort((top, -similarity[top]))]


def _table(
    rows: npt.NDArray[np.intp],
    similarity: npt.NDArray[np.float64],
    nearest: npt.NDArray[np.intp],
    ids: npt.NDArray[np.object_],
) -> pa.Table:
    return pa.table(
        {
            "rank": pa.array(np.arange(1, len(rows) + 1, dtype=np.int32), type=pa.int32()),
            "profile_id": pa.array(ids[rows], type=pa.string()),
            "similarity": pa.array(similarity, type=pa.float64()),
            "nearest_seed_id": pa.array(ids[nearest], type=pa.string()),
        }
    )
