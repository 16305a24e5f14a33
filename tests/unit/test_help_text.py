"""Help texts: no reStructuredText markup reaches the terminal."""

from __future__ import annotations

import pytest

from fraudstream.cli import main
from fraudstream.help_text import plain


def test_literals_and_roles_become_bare_text() -> None:
    assert plain("run ``fraudstream demo`` with :class:`~scorer.Thing` and :func:`f`") == (
        "run fraudstream demo with scorer.Thing and f"
    )
    assert plain(None) == ""


@pytest.mark.parametrize("command", [["demo"], ["model"], ["model", "list"], ["bench", "sizing"], ["backtest"]])
def test_help_shows_no_markup(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert "``" not in out
    assert ":class:" not in out
