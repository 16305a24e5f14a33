"""``fraudstream backtest`` on the command line: help, and usage errors before any service is contacted."""

from __future__ import annotations

import pytest

from fraudstream.cli import EXIT_USAGE, main

RANGE = ["--from", "2018-05-01", "--to", "2018-05-08"]


def test_the_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backtest", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage: fraudstream backtest" in out
    for option in ("--from", "--to", "--model", "--store", "--verdicts-topic", "--output", "--quiet"):
        assert option in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "May", "--to", "2018-05-08"], "argument --from: 'May' is not a date like 2018-05-01"),
        (["--from", "2018-05-01", "--to", "2018-02-30"], "argument --to: '2018-02-30' is not a date"),
        ([*RANGE, "--model", "fraud@champion"], "argument --model: 'fraud@champion' is not a model reference"),
        ([*RANGE, "--store", "disk"], "argument --store: invalid choice: 'disk'"),
        (["--to", "2018-05-08"], "the following arguments are required: --from"),
    ],
)
def test_bad_arguments_are_usage_errors(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backtest", *arguments])
    assert exited.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2018-05-08", "--to", "2018-05-08"], "the range is empty"),
        (["--from", "2018-05-08", "--to", "2018-05-01"], "--from must be before --to"),
        ([*RANGE, "--redis-namespace", "bt"], "--redis-namespace needs --store redis"),
        (
            [*RANGE, "--model", "models:/fraud/3", "--model", "models:/fraud/3"],
            "models:/fraud/3 is given more than once",
        ),
        ([*RANGE, "--verdicts-topic", "verdicts"], "--verdicts-topic verdicts: that is a live fraudstream topic"),
        ([*RANGE, "--review-threshold", "0.95"], "FRAUD_REVIEW_THRESHOLD must not exceed FRAUD_DECLINE_THRESHOLD"),
        ([*RANGE, "--store", "redis", "--redis-namespace", "fs"], "'fs' is the live namespace"),
        ([*RANGE, "--store", "redis", "--redis-namespace", "a:b"], "may hold only 1-100 letters"),
    ],
)
def test_inconsistent_arguments_exit_2_with_a_message(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *arguments]) == EXIT_USAGE
    assert message in capsys.readouterr().err
