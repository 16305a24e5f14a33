"""The console command: help on every subcommand, clear errors for bad arguments and configuration."""

from __future__ import annotations

import pytest

from fraudstream.cli import EXIT_USAGE, build_parser, main

SUBCOMMANDS = ["prepare", "up", "status", "down", "demo"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: fraudstream {command}" in capsys.readouterr().out


def test_top_level_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in out


def test_an_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["launch"])
    assert exited.value.code == 2
    assert "invalid choice: 'launch'" in capsys.readouterr().err


def test_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUD_REDIS_PORT", "not-a-port")
    assert main(["status"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "FRAUD_REDIS_PORT" in err
    assert "not-a-port" in err


def test_down_takes_wipe() -> None:
    assert build_parser().parse_args(["down", "--wipe"]).wipe is True
