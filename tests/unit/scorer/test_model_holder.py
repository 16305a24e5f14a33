"""The model holder: the alias is the truth, failures keep the old model, lasting refusals stick."""

from __future__ import annotations

import pytest

from fraudcore.models import CHALLENGER, CHAMPION, ModelLoadError, ModelLoadFailure
from scorer.model_holder import ModelHolder
from tests.unit.scorer.twins import MemorySource, loaded_model


@pytest.fixture
def source() -> MemorySource:
    source = MemorySource()
    source.versions = {"1": loaded_model("1"), "2": loaded_model("2", seed=1)}
    source.aliases = {CHAMPION: "1"}
    return source


async def test_start_loads_the_champion_and_a_refresh_follows_the_alias(source: MemorySource) -> None:
    holder = ModelHolder(source)
    assert (await holder.start()).version == "1"
    unchanged = await holder.refresh(CHAMPION)
    assert (unchanged.swapped, unchanged.version) == (False, "1")
    source.aliases[CHAMPION] = "2"
    swapped = await holder.refresh(CHAMPION)
    assert (swapped.swapped, swapped.version, swapped.previous_version) == (True, "2", "1")
    assert holder.champion.version == "2"
    assert source.loads == 2


async def test_without_a_champion_start_explains_how_to_get_one() -> None:
    with pytest.raises(ModelLoadError, match="fraudstream demo") as raised:
        await ModelHolder(MemorySource()).start()
    assert raised.value.reason is ModelLoadFailure.NOT_FOUND


async def test_a_refused_version_keeps_the_old_model_and_is_not_loaded_again(source: MemorySource) -> None:
    holder = ModelHolder(source)
    await holder.start()
    source.versions["3"] = ModelLoadError(ModelLoadFailure.BAD_SIGNATURE, "bytes changed")
    source.aliases[CHAMPION] = "3"
    first = await holder.refresh(CHAMPION)
    second = await holder.refresh(CHAMPION)
    assert first.failed
    assert second.failed
    assert first.version == "3"
    assert first.error is not None
    assert first.error.reason is ModelLoadFailure.BAD_SIGNATURE
    assert holder.champion.version == "1"
    assert source.loads == 2  # version 1 once, version 3 once


async def test_an_unreachable_registry_keeps_the_model_and_is_retried(source: MemorySource) -> None:
    holder = ModelHolder(source)
    await holder.start()
    source.unreachable = ModelLoadError(ModelLoadFailure.STORE_UNAVAILABLE, "down")
    source.aliases[CHAMPION] = "2"
    assert (await holder.refresh(CHAMPION)).failed
    assert holder.champion.version == "1"
    source.unreachable = None
    assert (await holder.refresh(CHAMPION)).swapped
    assert holder.champion.version == "2"


async def test_the_challenger_is_held_only_when_shadowing(source: MemorySource) -> None:
    source.aliases[CHALLENGER] = "2"
    plain = ModelHolder(source)
    await plain.start()
    assert plain.challenger is None
    shadowing = ModelHolder(source, hold_challenger=True)
    await shadowing.start()
    assert shadowing.challenger is not None
    assert shadowing.challenger.version == "2"
    del source.aliases[CHALLENGER]
    gone = await shadowing.refresh(CHALLENGER)
    assert not gone.failed
    assert shadowing.challenger is None
