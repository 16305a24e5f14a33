"""The console command: help on every subcommand, clear errors for bad arguments and configuration."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from fraudstream.cli import EXIT_USAGE, build_parser, main

SUBCOMMANDS = ["prepare", "up", "status", "down", "demo", "produce", "score", "train", "model", "backtest", "bench"]


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


def test_a_misspelt_variable_is_refused_with_the_setting_it_resembles(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUD_REVIEW_TRESHOLD", "0.7")
    monkeypatch.setenv("FRAUD_NO_SUCH_THING", "1")
    assert main(["status"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "FRAUD_REVIEW_TRESHOLD: did you mean FRAUD_REVIEW_THRESHOLD?" in err
    assert "FRAUD_NO_SUCH_THING: no setting has this name" in err


def test_version_is_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"fraudstream {importlib.metadata.version('fraudstream')}"


def test_down_takes_wipe() -> None:
    assert build_parser().parse_args(["down", "--wipe"]).wipe is True


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rate", "0"], "argument --rate: 0 must be a positive finite number"),
        (["--rate", "fast"], "argument --rate: 'fast' is not a number"),
        (["--count", "-5"], "argument --count: -5 must be positive"),
        (["--label-fraction", "2"], "argument --label-fraction: 2 must be within 0 and 1"),
        (["--start", "April"], "argument --start: 'April' is not a date"),
        (["--start", "1999-01-01"], "argument --start: 1999-01-01 is before 2000-01-01"),
        (["--set", "colour=blue"], "expected NAME=VALUE with NAME one of amount_threshold"),
        (["--rate", "5", "--as-fast-as-possible"], "not allowed with argument --rate"),
    ],
)
def test_bad_produce_arguments_say_what_to_fix(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["produce", *arguments])
    assert exited.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from-file", "missing.csv"], "--from-file missing.csv: no such file"),
        (["--from-file", "{existing}", "--seed", "3"], "--seed: simulator options, not valid with --from-file"),
        (["--to-file", "out.txt"], "cannot tell the format of out.txt"),
        (["--set", "days=many"], "--set days=many: expected a value of type int"),
        (["--set", "radius=-1"], "radius must be positive"),
        (["--set", "start=1999-12-31"], "start must not be before 2000-01-01"),
    ],
)
def test_inconsistent_produce_options_are_refused_before_anything_runs(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "in.csv"
    existing.write_text("transaction_id\n", encoding="utf-8")
    assert main(["produce", *(a.format(existing=existing) for a in arguments)]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_inconsistent_thresholds_are_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUD_REVIEW_THRESHOLD", "0.95")
    assert main(["status"]) == EXIT_USAGE
    assert "FRAUD_REVIEW_THRESHOLD must not exceed FRAUD_DECLINE_THRESHOLD" in capsys.readouterr().err


def test_model_keygen_writes_a_key_pair_and_prints_the_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fraudcore.models.keys import signing_key, verification_keys
    from fraudcore.settings import Settings

    private, public = tmp_path / "private", tmp_path / "public"
    assert main(["model", "keygen", "--dir", str(private), "--public-dir", str(public), "--name", "k"]) == 0
    out = capsys.readouterr().out
    assert f"FRAUD_MODEL_SIGNING_KEY={private / 'k.pem'}" in out
    assert f"FRAUD_MODEL_VERIFY_KEYS={public / 'k.pub.pem'}" in out
    assert (private / "k.pem").stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in out
    trainer = Settings(model_signing_key=str(private / "k.pem"), mlflow_tracking_uri="http://mlflow:5000")
    scorer = Settings(model_verify_keys=str(public / "k.pub.pem"), mlflow_tracking_uri="http://mlflow:5000")
    assert verification_keys(scorer).ids == verification_keys(trainer).ids
    assert signing_key(trainer) is not None

    before = (private / "k.pem").read_bytes()
    assert main(["model", "keygen", "--dir", str(private), "--public-dir", str(public), "--name", "k"]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert (
        main(["model", "keygen", "--dir", str(private), "--public-dir", str(public), "--name", "k", "--keep-existing"])
        == 0
    )
    assert (private / "k.pem").read_bytes() == before
    assert main(["model", "keygen", "--dir", str(private), "--name", "../k"]) == EXIT_USAGE


@pytest.mark.parametrize(
    ("argv", "variable"), [(["score"], "FRAUD_MODEL_VERIFY_KEYS"), (["train", "--once"], "FRAUD_MODEL_SIGNING_KEY")]
)
def test_a_scorer_or_trainer_against_a_tracking_server_without_keys_stops_with_a_clear_error(
    argv: list[str], variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"fraudstream {argv[0]}: MLflow is at http://mlflow.example:5000, not a store on this machine" in err
    assert variable in err
    assert "fraudstream model keygen" in err
