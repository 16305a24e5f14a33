"""``fraudstream bench`` arguments, and the scorer's benchmark-only feature store option."""

from __future__ import annotations

import pytest

from fraudstream.cli import EXIT_USAGE, build_parser, main


def test_help_shows_the_defaults_and_the_quick_preset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default 100000; --quick: 20000)" in out
    assert "--live-seconds SECONDS paced phase" in out
    assert "--json FILE" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--messages", "10"], "argument --messages: 10 must be within 1,000 and 10,000,000"),
        (["--messages", "many"], "argument --messages: 'many' is not an integer"),
        (["--live-seconds", "soon"], "argument --live-seconds: 'soon' is not a number"),
        (["--model-kind", "oracle"], "argument --model-kind: invalid choice: 'oracle'"),
    ],
)
def test_a_bad_option_is_a_usage_error(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", *arguments])
    assert exited.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_inconsistent_sizes_are_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--messages", "5000", "--naive-messages", "6000"]) == EXIT_USAGE
    assert "--naive-messages must be within 100 and --messages" in capsys.readouterr().err


def test_a_json_file_in_a_missing_folder_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json", "/nonexistent/folder/bench.json"]) == EXIT_USAGE
    assert "the folder /nonexistent/folder does not exist" in capsys.readouterr().err


def test_the_scorer_takes_an_in_memory_feature_store_for_benchmarks() -> None:
    parser = build_parser()
    assert parser.parse_args(["score"]).feature_store == "redis"
    assert parser.parse_args(["score", "--feature-store", "memory"]).feature_store == "memory"
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--feature-store", "disk"])
