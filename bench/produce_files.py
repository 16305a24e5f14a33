"""How fast ``fraudstream produce --from-file`` sends a dataset file, this code beside an older revision.

Usage (repository root, project virtualenv, Kafka reachable as the settings say, e.g. after
``fraudstream up``)::

    python -m bench.produce_files --rows 1000000 --data /tmp/produce-bench --baseline <git revision>

It writes ``--rows`` simulated transactions to ``tx.jsonl`` and ``tx.csv`` under ``--data`` (once: existing
files of that size are reused), then runs the real command, in a child process each time, on each file:
the baseline (the revision's files, exported with ``git archive``, run with this virtualenv) and this
code, alternately, ``--repeat`` times, each run to a new topic prefix. It reports the command's own rate
(from its first to its last send, acknowledgements included), the wall time with start-up, and the CPU
seconds of the producer process per row (less sensitive to a busy machine than the rates).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "main"]

_REPO = Path(__file__).resolve().parents[1]
_SENT = re.compile(r"sent ([\d,]+) transactions and [\d,]+ labels in ([\d,.]+) s")


@dataclass(frozen=True)
class Run:
    """One ``produce --from-file`` run."""

    code: str
    file: Path
    rows: int
    send_s: float
    """What the command reports: from its first row to the last acknowledgement."""
    wall_s: float
    """The whole process, start-up included."""
    cpu_s: float
    """User and system CPU seconds of the process."""

    def line(self) -> str:
        """A Markdown table row."""
        return (
            f"| {self.code} | {self.file.suffix[1:]} | {self.rows:,} | {self.rows / self.send_s:,.0f} | "
            f"{self.rows / self.wall_s:,.0f} | {1e6 * self.cpu_s / self.rows:.1f} |"
        )


def _dataset(data: Path, rows: int, suffix: str) -> Path:
    path = data / f"tx{suffix}"
    lines = sum(1 for _ in path.open("rb")) if path.exists() else 0
    if lines != rows + (suffix == ".csv"):
        command = [sys.executable, "-m", "fraudstream", "produce", "--count", str(rows), "--quiet"]
        subprocess.run([*command, "--to-file", str(path)], check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our CLI
    return path


def _export(revision: str, into: Path) -> Path:
    """The tracked files of ``revision`` under ``into``."""
    archive = into / "baseline.tar"
    git = shutil.which("git")
    if git is None:
        raise SystemExit("--baseline needs git")
    subprocess.run([git, "archive", "--output", str(archive), revision], check=True, cwd=_REPO)  # noqa: S603
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


def _imports_from(source: Path) -> bool:
    """Whether the interpreter, run as :func:`_run` runs it, takes the project's modules from ``source``
    (and not from an editable install of this checkout)."""
    probe = [sys.executable, "-c", "import producer.files as module; print(module.__file__)"]
    done = subprocess.run(  # noqa: S603 - the running interpreter
        probe, env=os.environ | {"PYTHONPATH": str(source)}, cwd=source, capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip()).resolve().is_relative_to(source.resolve())


def _run(code: str, source: Path, path: Path) -> Run:
    env = os.environ | {"FRAUD_TOPIC_PREFIX": f"pf{uuid.uuid4().hex[:8]}.", "PYTHONPATH": str(source)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our CLI, with the running interpreter
        [sys.executable, "-m", "fraudstream", "produce", "--from-file", str(path), "--quiet"],
        env=env,
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent = _SENT.search(done.stdout)
    if done.returncode != 0 or sent is None:
        raise SystemExit(f"{code} on {path.name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Run(code, path, int(sent.group(1).replace(",", "")), float(sent.group(2).replace(",", "")), wall, cpu)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.produce_files", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions per file (1,000,000)")
    parser.add_argument("--data", type=Path, required=True, help="folder for the generated files (kept)")
    parser.add_argument("--baseline", metavar="REVISION", help="git revision to compare with (default: none)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each code on each file (1)")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "csv"], choices=["jsonl", "csv"])
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    files = [_dataset(args.data, args.rows, f".{kind}") for kind in args.formats]
    print("| code | format | rows | rows/s (command) | rows/s (wall, with start-up) | CPU µs/row |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        codes = [("this code", _REPO)]
        if args.baseline:
            baseline = _export(args.baseline, Path(scratch))
            if not _imports_from(baseline):
                raise SystemExit(f"the exported {args.baseline} is not what python imports: is the project installed?")
            codes.insert(0, (f"baseline {args.baseline}", baseline))
        for path in files:
            for _ in range(args.repeat):
                for code, source in codes:
                    print(_run(code, source, path).line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
