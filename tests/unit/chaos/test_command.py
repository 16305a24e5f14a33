"""``fraudstream chaos`` arguments: bad values are usage errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.cli import EXIT_USAGE, main


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["kill", "--kills", "0"], "argument --kills: 0 must be within 1 and 1,000"),
        (["kill", "--rate", "nan"], "argument --rate: nan must be within 1.0 and 1,000,000.0"),
        (["kill", "--transactions", "lots"], "argument --transactions: 'lots' is not an integer"),
        (["poison", "--poison-every", "1"], "argument --poison-every: 1 must be within 2 and 1,000,000"),
        (["models", "--outage-seconds", "0.5"], "argument --outage-seconds: 0.5 must be within 1.0 and 3,600.0"),
        (["flood"], "argument scenario: invalid choice: 'flood'"),
        (["scale", "--cycles", "0"], "argument --cycles: 0 must be within 1 and 1,000"),
        (["scale", "--leave", "crash"], "argument --leave: invalid choice: 'crash'"),
        (["broker", "--outage-seconds", "0"], "argument --outage-seconds: 0 must be within 1.0 and 3,600.0"),
        (["broker", "--broker-stop", "pause"], "argument --broker-stop: invalid choice: 'pause'"),
    ],
)
def test_a_bad_option_is_a_usage_error(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["chaos", *arguments])
    assert exited.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_json_file_in_a_missing_folder_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chaos", "kill", "--json", str(tmp_path / "nowhere" / "kill.json")]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
