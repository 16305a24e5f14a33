"""A real Prometheus server for tests (the Debian package's binary)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.integration.conftest import free_port
from tests.integration.scorer_harness import http


class Prometheus:
    """``prometheus`` scraping ``targets`` (job name -> host:port) every second, in ``work_dir``."""

    def __init__(self, work_dir: Path, targets: Mapping[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (scripts/install-system-deps.sh installs it)")
        work_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
            ],
        }
        (work_dir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self._log = (work_dir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={work_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = work_dir / "prometheus.log"

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
            if http(f"http://127.0.0.1:{self.port}/-/ready")[0] == 200:
                return
            time.sleep(0.3)
        raise AssertionError(f"prometheus not ready in {timeout_s} s:\n{self.log_path.read_text()[-3000:]}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) ``promql`` evaluates to now."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http(url)
        answer = json.loads(body) if body else {}
        if status != 200 or answer.get("status") != "success":
            raise AssertionError(f"{promql!r}: HTTP {status} {body[:500]!r}")
        data = answer["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        """The series ``promql`` evaluates to from ``start`` to ``end`` (epoch seconds), one point per step."""
        arguments = {"query": promql, "start": str(start), "end": str(end), "step": str(step_s)}
        status, body = http(f"http://127.0.0.1:{self.port}/api/v1/query_range?" + urllib.parse.urlencode(arguments))
        answer = json.loads(body) if body else {}
        if status != 200 or answer.get("status") != "success":
            raise AssertionError(f"{promql!r}: HTTP {status} {body[:500]!r}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def target_health(self) -> dict[str, str]:
        """Job name -> health of its (single) target."""
        _, body = http(f"http://127.0.0.1:{self.port}/api/v1/targets")
        targets = json.loads(body)["data"]["activeTargets"]
        return {target["labels"]["job"]: target["health"] for target in targets}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def values(samples: list[dict[str, Any]]) -> list[float]:
    """The sample values of an instant query's result."""
    return [float(sample["value"][1]) for sample in samples]


def all_finite(samples: list[dict[str, Any]]) -> bool:
    return all(math.isfinite(value) for value in values(samples))
