"""``fraudstream demo`` end to end (short), against the session's services."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fraudcore.settings import Settings
from tests.integration.scorer_harness import scorer_setup


def test_the_demo_runs_the_whole_pipeline_and_every_live_transaction_gets_a_verdict(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "fraudstream", "demo"),
            *("--duration", "15", "--rate", "200"),
        ],
        env=setup.env(0) | {"FRAUD_SCORER_WEB_PORT": "6066"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert "promoted version 1 to champion" in out
    summary = re.search(r"live transactions sent: ([\d,]+); verdicts: ([\d,]+) \(0 still in flight\)", out)
    assert summary, out[-3000:]
    assert summary.group(1) == summary.group(2)
    assert int(summary.group(1).replace(",", "")) > 1000
    assert "verdicts by model version: v1" in out
