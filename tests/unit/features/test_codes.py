"""String ids to integer codes, from every input the trainer may hold."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fraudcore.features.codes import factorize

IDS = ["c7", "t1", "c7", "", "é", "t1", "c8"]
CODES = [0, 1, 0, 2, 3, 1, 4]


@pytest.mark.parametrize(
    "ids",
    [
        IDS,
        np.array(IDS),
        np.array(IDS, dtype=object),
        pa.array(IDS),
        pa.array(IDS, pa.large_string()),
        pa.chunked_array([IDS[:3], IDS[3:]]),
        pa.chunked_array([IDS[:3], [], IDS[3:]]),
    ],
    ids=["list", "numpy-str", "numpy-object", "arrow", "arrow-large", "chunked", "chunked-empty-chunk"],
)
def test_equal_ids_get_equal_codes_in_order_of_first_appearance(ids: object) -> None:
    codes = factorize(ids)
    assert codes.dtype == np.int64
    assert codes.tolist() == CODES


def test_many_random_ids_match_a_dictionary() -> None:
    rng = np.random.default_rng(0)
    ids = np.char.add("c", rng.integers(0, 5_000, size=50_000).astype(str))
    expected: dict[str, int] = {}
    assert factorize(ids).tolist() == [expected.setdefault(i, len(expected)) for i in ids.tolist()]


def test_empty_input() -> None:
    assert factorize([]).tolist() == []
    assert factorize(pa.chunked_array([], pa.string())).tolist() == []


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["a", None], "1 missing ids"),
        (pa.array([1, 2]), "must be strings"),
        (np.array([1, 2]), "must be strings"),
        (np.array([["a"]]), "one-dimensional"),
        (["a", 3], "must be strings"),
    ],
)
def test_bad_ids_are_refused_clearly(ids: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factorize(ids)
