"""store.memo.Memo's limit (keys chosen by readers cannot grow it without bound) and its
`refresh` (a value computed now, kept for the readers after)."""

from __future__ import annotations

from omnicx.store.memo import Memo


def test_a_full_memo_forgets_the_value_computed_longest_ago() -> None:
    now = [0.0]
    memo = Memo(clock=lambda: now[0], limit=2)
    computed: list[str] = []

    def value(key: str) -> str:
        def compute() -> str:
            computed.append(key)
            return key.upper()

        return memo.get(key, compute, seconds=60).value

    for key in ("a", "b", "c"):
        now[0] += 1
        assert value(key) == key.upper()
    assert value("b") == "B" and value("c") == "C"  # kept
    assert value("a") == "A"  # forgotten when c came: computed again
    assert computed == ["a", "b", "c", "a"]


def test_refresh_computes_now_and_keeps_it_for_the_next_reader() -> None:
    memo = Memo()
    answers = iter([1, 2])
    assert memo.get("k", lambda: next(answers), seconds=60).value == 1
    assert memo.refresh("k", lambda: next(answers)).value == 2
    assert memo.get("k", lambda: 99, seconds=60).value == 2
