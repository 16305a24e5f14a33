"""TileSums against a plain dict of tiles: adds in any order, pruning, windows, copies."""

from __future__ import annotations

import random

from fraudcore.features.tile_sums import TileSums


def window(model: dict[int, tuple[int, int]], lo: int, hi: int) -> tuple[int, int]:
    inside = [value for tile, value in model.items() if lo < tile <= hi]
    return sum(count for count, _ in inside), sum(cents for _, cents in inside)


def sums_window(sums: TileSums, lo: int, hi: int) -> tuple[int, int]:
    end, start = sums.end(hi), sums.end(lo)
    return sums.counts[end] - sums.counts[start], sums.cents[end] - sums.cents[start]


def test_random_adds_and_prunes_match_a_dict_of_tiles() -> None:
    rng = random.Random(7)
    sums, model = TileSums(), dict[int, tuple[int, int]]()
    newest, floor = 1_000, 0
    for step in range(3_000):
        tile = newest - rng.choice([0, 0, 0, 1, 5, 30]) if step % 4 else newest + rng.randrange(3)
        newest = max(newest, tile)
        if tile > floor:
            cents = rng.randrange(1, 10_000)
            count, total = model.get(tile, (0, 0))
            model[tile] = (count + 1, total + cents)
            assert sums.add(tile, cents) == model[tile]
        if step % 50 == 0:
            floor = newest - rng.randrange(20, 80)
            sums.prune(floor)
            model = {tile: value for tile, value in model.items() if tile > floor}
        assert list(sums.tiles) == sorted(model)
        probe = rng.randrange(newest - 100, newest + 2)
        assert sums.at(probe) == model.get(probe, (0, 0))
        for width in (1, 24, 70):
            assert sums_window(sums, probe - width, probe) == window(model, probe - width, probe)
    assert dict(sums.items()) == model


def test_a_copy_is_independent() -> None:
    sums = TileSums()
    for tile in (5, 7, 7, 6):
        sums.add(tile, 10)
    copy = sums.copy()
    copy.add(6, 1)
    copy.prune(5)
    assert sums.items() == [(5, (1, 10)), (6, (1, 10)), (7, (2, 20))]
    assert copy.items() == [(6, (2, 11)), (7, (2, 20))]
    assert len(copy) == 2
