"""The HTML report is self-contained and holds every plot; the summary names every model."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from backtest.html_report import RunInfo, render_html
from backtest.kafka_source import PartitionSpan
from backtest.plots import Plot, plots
from backtest.progress import Progress
from backtest.summary import summary
from tests.unit.backtest.pipeline import numbers

INFO = RunInfo(
    generated_at=datetime(2030, 1, 1, 12, tzinfo=UTC),
    store="in memory",
    seconds={"read": 1.0, "replay": 2.0, "score": 1.0, "evaluate": 0.5},
    transactions_replayed=8_000,
    spans=[PartitionSpan("transactions", 0, 10, 500)],
    verdicts=("backtest-verdicts", 1234),
)


@cache
def _plots() -> list[Plot]:
    return plots(numbers().results)


def test_every_plot_is_a_png() -> None:
    assert [identifier for identifier, _, _ in _plots()] == ["pr", "roc", "card-precision", "scores", "alerts"]
    for _, _, png in _plots():
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_report_embeds_the_plots_and_fetches_nothing() -> None:
    data = numbers()
    html = render_html(data, data.results, _plots(), INFO)
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(images) == len(_plots())
    assert [base64.b64decode(image) for image in images] == [png for _, _, png in _plots()]
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert 'id="render-check"' in html
    assert "naturalWidth" in html
    for result in data.results:
        assert result.model.label in html
    assert "2,000 transactions/s" in html  # 8,000 transactions in 4 s of read, replay and score
    assert "1,234 to backtest-verdicts" in html


def test_the_summary_has_one_row_per_model(tmp_path: Path) -> None:
    data = numbers()
    text = summary(data, data.results, INFO, tmp_path / "backtest.html", tmp_path / "backtest.json")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "CP@100" in header
    for result in data.results:
        (row,) = [line for line in lines if line.startswith(result.model.label)]
        assert f"{result.evaluation.auc_roc:.3f}" in row
    assert "0 invalid transactions" in text
    assert "replay: 8,000 transactions at 2,000/s" in text
    assert f"numbers: {tmp_path / 'backtest.json'}" in text


def test_a_quiet_progress_writes_nothing_and_a_log_gets_a_line_per_tenth() -> None:
    quiet, log = io.StringIO(), io.StringIO()
    for stream, is_quiet in ((quiet, True), (log, False)):
        progress = Progress(stream, quiet=is_quiet)
        progress.start("replay", 1_000)
        for _ in range(100):
            progress.advance(10)
        progress.finish()
    assert quiet.getvalue() == ""
    lines = log.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[-1].startswith("replay")
    assert "100% 1,000/1,000" in lines[-1]
