"""Model references on the command line."""

from __future__ import annotations

import pytest

from backtest.models import ModelRef
from tests.unit.backtest.simulated import models


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("models:/fraud@champion", ModelRef("fraud", alias="champion")),
        ("models:/fraud-demo/7", ModelRef("fraud-demo", version="7")),
        ("models:/fraud/007", ModelRef("fraud", version="7")),
        (" models:/my.model_2@previous ", ModelRef("my.model_2", alias="previous")),
    ],
)
def test_aliases_and_versions_parse(text: str, ref: ModelRef) -> None:
    assert ModelRef.parse(text) == ref
    assert ModelRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text", ["fraud@champion", "models:/fraud", "models:/fraud/", "models:/fraud/v7", "models:/fraud@", "runs:/x/y"]
)
def test_other_forms_are_refused_with_the_expected_ones_named(text: str) -> None:
    with pytest.raises(ValueError, match=r"models:/fraud@champion or models:/fraud/7"):
        ModelRef.parse(text)


def test_version_zero_does_not_exist() -> None:
    with pytest.raises(ValueError, match="version numbers start at 1"):
        ModelRef.parse("models:/fraud/0")


def test_a_reference_names_an_alias_or_a_version() -> None:
    with pytest.raises(ValueError, match="either an alias or a version"):
        ModelRef("fraud")
    with pytest.raises(ValueError, match="either an alias or a version"):
        ModelRef("fraud", alias="champion", version="1")


def test_labels_show_the_version_an_alias_resolved_to() -> None:
    by_alias, by_version = models()
    assert by_alias.label == "models:/fraud@champion (v1)"
    assert by_version.label == "models:/fraud/2"
