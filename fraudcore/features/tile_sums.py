"""Per-entity tile counts held as sorted tiles with running sums, so a window is two bisections.

The in-memory store keeps, per customer, each tile's count and cents, and per terminal each tile's
count. Held as a dict, every window query walks all the entity's tiles (hundreds for a steady
customer); held here, a window ``(lo, hi]`` is a difference of running sums found by bisection, adding
to the newest tile is an append (a late tile shifts the sums after it), and pruning drops a prefix.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right

__all__ = ["TileSums"]


class TileSums:
    """Count and cents per tile: ``tiles`` ascending, ``counts[i]`` / ``cents[i]`` the sums over
    ``tiles[:i]`` (plus a constant offset left by pruning, which cancels in every difference)."""

    __slots__ = ("cents", "counts", "tiles")

    def __init__(
        self, tiles: array[int] | None = None, counts: array[int] | None = None, cents: array[int] | None = None
    ) -> None:
        self.tiles: array[int] = array("q") if tiles is None else tiles
        self.counts: array[int] = array("q", (0,)) if counts is None else counts
        self.cents: array[int] = array("q", (0,)) if cents is None else cents

    def copy(self) -> TileSums:
        return TileSums(array("q", self.tiles), array("q", self.counts), array("q", self.cents))

    def __len__(self) -> int:
        return len(self.tiles)

    def items(self) -> list[tuple[int, tuple[int, int]]]:
        """Each tile held with its (count, cents), ascending."""
        counts, cents = self.counts, self.cents
        return [(tile, (counts[i + 1] - counts[i], cents[i + 1] - cents[i])) for i, tile in enumerate(self.tiles)]

    def at(self, tile: int) -> tuple[int, int]:
        """The (count, cents) of ``tile``; (0, 0) when not held."""
        tiles = self.tiles
        i = bisect_left(tiles, tile)
        if i == len(tiles) or tiles[i] != tile:
            return 0, 0
        counts, cents = self.counts, self.cents
        return counts[i + 1] - counts[i], cents[i + 1] - cents[i]

    def add(self, tile: int, cents: int) -> tuple[int, int]:
        """Add one transaction of ``cents`` to ``tile``; the tile's (count, cents) after it."""
        tiles, counts, sums = self.tiles, self.counts, self.cents
        if not tiles or tile > tiles[-1]:
            tiles.append(tile)
            counts.append(counts[-1] + 1)
            sums.append(sums[-1] + cents)
            return 1, cents
        if tile == tiles[-1]:
            counts[-1] += 1
            sums[-1] += cents
            return counts[-1] - counts[-2], sums[-1] - sums[-2]
        i = bisect_left(tiles, tile)
        if tiles[i] != tile:  # a new tile before the newest: its sums start where the previous ones end
            tiles.insert(i, tile)
            counts.insert(i + 1, counts[i])
            sums.insert(i + 1, sums[i])
        counts[i + 1 :] = array("q", [count + 1 for count in counts[i + 1 :]])
        sums[i + 1 :] = array("q", [total + cents for total in sums[i + 1 :]])
        return counts[i + 1] - counts[i], sums[i + 1] - sums[i]

    def prune(self, cut: int) -> None:
        """Drop the tiles ``<= cut``."""
        tiles = self.tiles
        if tiles and tiles[0] <= cut:
            drop = bisect_right(tiles, cut)
            del tiles[:drop]
            del self.counts[:drop]
            del self.cents[:drop]

    def end(self, hi: int) -> int:
        """How many tiles are ``<= hi``: the end of a window ending at ``hi``."""
        tiles = self.tiles
        return len(tiles) if not tiles or tiles[-1] <= hi else bisect_right(tiles, hi)
