import random

from collector.streams import count, covers, gaps, merge, subtract


def test_merge_joins_overlapping_and_adjacent_ranges() -> None:
    assert merge([(5, 9), (1, 3)], (4, 4), (20, 30), (25, 26)) == [(1, 9), (20, 30)]
    assert merge([]) == []


def test_covers_uses_inclusive_bounds() -> None:
    r = [(1, 3), (10, 10)]
    assert [s for s in range(0, 12) if covers(r, s)] == [1, 2, 3, 10]


def test_subtract_and_gaps() -> None:
    assert subtract([(1, 10)], [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert gaps([(1, 3), (7, 9), (12, 12)]) == [(4, 6), (10, 11)]
    assert gaps([(1, 3), (7, 9)], dropped=[(4, 5)]) == [(6, 6)]
    assert gaps([(5, 6)]) == [(1, 4)]  # the start of the stream never arrived
    assert gaps([]) == []


def test_against_sets_on_random_input() -> None:
    rng = random.Random(1)
    for _ in range(300):
        parts = [(a, a + rng.randrange(4)) for a in (rng.randrange(1, 60) for _ in range(6))]
        minus = merge((a, a + rng.randrange(4)) for a in (rng.randrange(1, 60) for _ in range(4)))
        got = merge(parts)
        want = {s for a, b in parts for s in range(a, b + 1)}
        assert {s for s in range(70) if covers(got, s)} == want
        assert count(got) == len(want)
        sub = {s for a, b in subtract(got, minus) for s in range(a, b + 1)}
        assert sub == want - {s for a, b in minus for s in range(a, b + 1)}
