"""``fraudstream bench sizing``: its arguments, the history it streams and the figures it derives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bench.results import Machine
from bench.sizing_config import SIZING_DEFAULT, SizingConfig
from bench.sizing_history import SimulatedHistory, id_kind
from bench.sizing_redis import KeyFamily
from bench.sizing_report import DaySample, SizingReport, StreamTotals, Windows
from bench.sizing_table import rows, table
from bench.sizing_trainer import TrainerRun
from fraudstream.cli import EXIT_USAGE, build_parser, main


def test_help_names_the_options_and_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "sizing", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--customers N simulated cards (default 200)" in out
    assert "--tx-per-card-day RATE mean payments per card and day (default 2)" in out
    assert "--no-trainer" in out
    assert "--json FILE" in out


def test_the_plain_bench_and_the_sizing_part_dispatch_to_their_own_handlers() -> None:
    parser = build_parser()
    assert parser.parse_args(["bench", "--quick"]).handler.__name__ == "bench"
    assert parser.parse_args(["bench", "sizing", "--days", "60"]).handler.__name__ == "sizing"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--days", "1"], "argument --days: 1 must be within 2 and 3,650"),
        (["--customers", "many"], "argument --customers: 'many' is not an integer"),
        (["--label-fraction", "1.5"], "argument --label-fraction: 1.5 must be within 0.0 and 1.0"),
        (["--tx-per-card-day", "0"], "argument --tx-per-card-day: 0 must be within 0.001 and 1,000.0"),
        (["--model-kind", "oracle"], "argument --model-kind: invalid choice: 'oracle'"),
    ],
)
def test_a_bad_option_is_a_usage_error(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "sizing", *arguments])
    assert exited.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_json_file_in_a_missing_folder_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sizing", "--json", "/nonexistent/folder/sizing.json"]) == EXIT_USAGE
    assert "the folder /nonexistent/folder does not exist" in capsys.readouterr().err


def test_the_command_line_repeats_the_configuration() -> None:
    config = replace(SIZING_DEFAULT, customers=2_000, days=60, trainer=False)
    arguments = build_parser().parse_args(config.command().split()[1:])
    assert (arguments.customers, arguments.days, arguments.no_trainer) == (2_000, 60, True)
    assert SizingConfig(days=1, label_fraction=2).problems() == [
        "--days must be at least 2 (memory is compared at day N/2 and day N)",
        "--label-fraction must be within 0 and 1",
    ]


def test_simulated_ids_are_told_apart() -> None:
    assert [id_kind(i) for i in ("tx0000000012", "c000012", "t000012", "{7}", "1522540800000")] == [
        "transaction",
        "card",
        "terminal",
        "other",
        "other",
    ]


def test_the_history_comes_in_day_batches_with_its_tallies() -> None:
    config = SizingConfig(customers=40, terminals=80, days=10, batch_size=25, trainer=True)
    history = SimulatedHistory(config)
    batches = list(history.batches())
    assert [batch.day for batch in batches if batch.last_of_day] == list(range(10))
    assert all(0 < len(batch.transactions) <= 25 or batch.last_of_day for batch in batches)
    streamed = sum(len(batch.transactions) for batch in batches)
    assert streamed == sum(history.transactions_per_day) == history.transactions_since(0)
    labels = sum(len(batch.labels) for batch in batches)
    assert labels == history.labels_streamed > 0  # labelled a week later: days 7 to 9 get the first ones
    assert len(history.records) == streamed + labels == history.cut_at_day[9]
    assert sorted(history.cut_at_day) == list(range(10))
    assert list(history.cut_at_day.values()) == sorted(history.cut_at_day.values())
    assert history.active(history.card_last_day, 0) == len(history.card_last_day) <= 40
    assert history.active(history.terminal_last_day, 10) == 0


def _report(trainer: list[TrainerRun]) -> SizingReport:
    days = [DaySample(day, 1_000 * (day + 1), 50_000 * min(day + 1, 3), 100) for day in range(6)]
    families = [
        KeyFamily("cust", "card", "hash", 100, 10, 400.0, 8.0),
        KeyFamily("term", "terminal", "hash", 50, 10, 200.0, 4.0),
        KeyFamily("claims", "shared", "hash", 10, 10, 1_000.0, 100.0),
    ]
    return SizingReport(
        command="fraudstream bench sizing",
        run_id="bench-0123abcd",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        config=SizingConfig(days=6),
        machine=Machine(2, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
        redis_version="7.0.15",
        windows=Windows(card_days=30, terminal_days=37, trainer_horizon_days=80, trainer_fits_from_day=43),
        days=days,
        totals=StreamTotals(6_000, 3_000, 6_000, 0, 0, 0, 0.3, 0.12, 2.0),
        active_cards=80,
        active_terminals=40,
        transactions_in_window=5_000,
        families=families,
        families_half=families,
        trainer=trainer,
    )


def test_the_figures_follow_from_the_measurements() -> None:
    runs = [TrainerRun(3, 3_000, 300_000_000, 10.0, 1), TrainerRun(6, 6_000, 330_000_000, 20.0, 0)]
    figures = _report(runs).figures()
    assert figures["store_bytes"] == 150_000
    assert figures["store_bytes_half"] == 150_000
    assert figures["flatness"] == pytest.approx(1.0)
    assert figures["bytes_per_tx_in_window"] == pytest.approx(30.0)
    assert figures["bytes_per_tx_streamed"] == pytest.approx(25.0)
    assert figures["bytes_per_active_card"] == pytest.approx(40_000 / 80)
    assert figures["bytes_per_active_terminal"] == pytest.approx(10_000 / 40)
    assert figures["per_tx_family_bytes_per_tx_in_window"] == pytest.approx(10_000 / 5_000)
    assert figures["census_to_store"] == pytest.approx(60_000 / 150_000)
    assert figures["scorer_cpu_us_per_tx"] == pytest.approx(50.0)
    assert figures["redis_cpu_us_per_tx"] == pytest.approx(20.0)
    assert figures["trainer_marginal_bytes_per_tx"] == pytest.approx(10_000.0)
    assert figures["trainer_peak_bytes_per_tx"] == pytest.approx(55_000.0)


def test_the_table_and_the_document_carry_every_figure() -> None:
    report = _report([])
    table = report.render()
    assert "| flatness (day N / day N/2) | 1.00 |" in table
    assert "| cust | card | hash | 100 | 400 | 8.0 | 50.0 | 0.04 |" in table
    assert "trainer" not in table
    document = report.document()
    assert document["figures"]["trainer_marginal_bytes_per_tx"] is None
    assert document["windows"]["longest_days"] == 37
    assert document["families"][0]["bytes"] == 40_000
    assert len(document["days"]) == 6


def test_the_sizing_table_scales_the_measured_figures_to_each_rate() -> None:
    runs = [TrainerRun(3, 3_000, 300_000_000, 10.0, 1), TrainerRun(6, 6_000, 330_000_000, 20.0, 0)]
    document = _report(runs).document()
    hundred, thousand = rows(document, [100, 1_000], kafka_us=50.0)
    per_day = 100 * 86_400
    assert hundred["cards"] == pytest.approx(per_day / (6_000 / (6 * 200)))  # 5 payments per card and day
    assert hundred["terminals"] == pytest.approx(2 * hundred["cards"])
    assert hundred["redis_bytes"] == pytest.approx(per_day * 37 * 30.0)
    assert hundred["redis_cores"] == pytest.approx(100 * 20e-6)
    assert hundred["scorer_cores"] == pytest.approx(100 * (50 + 50) * 1e-6)
    fixed = 330_000_000 - 10_000 * 6_000
    assert hundred["trainer_bytes"] == pytest.approx(fixed + per_day * 80 * 10_000)
    assert thousand["redis_bytes"] == pytest.approx(10 * hundred["redis_bytes"])
    assert "| 1,000 |" in table(document, [1_000], kafka_us=50.0)
