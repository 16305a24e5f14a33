"""The batch partitioner agrees with aiokafka's own default partitioner, key by key."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from fraudcore.kafka_partitioning import default_partitions, murmur2_many


@pytest.mark.unit
def test_murmur2_of_keys_of_every_length_matches_aiokafka() -> None:
    rnd = random.Random(11)
    keys = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 70))) for _ in range(3000)]
    assert murmur2_many(keys).tolist() == [murmur2(key) for key in keys]


@pytest.mark.unit
@pytest.mark.parametrize("partitions", [1, 3, 7, 64])
def test_partitions_match_the_default_partitioner(partitions: int) -> None:
    keys = [f"tx{index:010d}".encode() for index in range(2000)] + ["ü-card-é".encode(), b""]
    expected = [DefaultPartitioner()(key, list(range(partitions)), []) for key in keys]
    assert default_partitions(keys, partitions).tolist() == expected


@pytest.mark.unit
def test_a_topic_without_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        default_partitions([b"k"], 0)
