"""The report as a plain-text table (Markdown-compatible, for BENCHMARKS.md)."""

from __future__ import annotations

from bench.results import BenchReport

__all__ = ["render"]


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def render(report: BenchReport) -> str:
    """The table of the measurements with their ratios, then the targets."""
    config, ratios, live = report.config, report.ratios(), report.live
    latency, swap, memory, raw_latency = live.latency, live.swap, report.memory, report.raw_latency
    rows = [
        ("1", "raw aiokafka passthrough (reference)", _rate(report.raw.rate), "1.00x (1)"),
        ("2", "naive faust scorer (peer baseline)", _rate(report.naive.rate), f"{ratios['naive_to_raw']:.3f}x (1)"),
        (
            "3",
            "fraudstream, trivial model, no Redis",
            _rate(report.framework.rate),
            f"{ratios['framework_to_raw']:.2f}x (1)",
        ),
        (
            "4",
            "fraudstream, full scoring",
            _rate(report.full.rate),
            f"{ratios['full_to_raw']:.2f}x (1), {ratios['full_to_naive']:.1f}x (2)",
        ),
        (
            "4b",
            "as 4, each micro-batch one chunk (no overlap)",
            _rate(report.whole_batches.rate),
            f"4 is {ratios['full_to_whole_batches']:.2f}x this",
        ),
        ("5", "in-memory batch predict_proba", _rate(report.in_memory.rate), f"{ratios['in_memory_to_full']:.1f}x (4)"),
        (
            "6",
            f"latency at {latency.achieved_rate:,.0f}/s ({ratios['paced_to_full']:.0%} of 4)",
            f"p50 {latency.p50_ms:,.0f} ms, p99 {latency.p99_ms:,.0f} ms, p99.9 {latency.p999_ms:,.0f} ms",
            f"max {latency.max_ms:,.0f} ms",
        ),
        (
            "6b",
            f"raw passthrough latency at {raw_latency.achieved_rate:,.0f}/s (as 6)",
            f"p50 {raw_latency.p50_ms:,.0f} ms, p99 {raw_latency.p99_ms:,.0f} ms, p99.9 {raw_latency.p999_ms:,.0f} ms",
            f"p99 of 6 is {ratios['p99_to_raw_p99']:.1f}x this",
        ),
        (
            "7",
            f"hot-swap v{swap.from_version} -> v{swap.to_version} under load",
            f"stall {swap.stall_ms:,} ms (elsewhere {swap.largest_gap_elsewhere_ms:,} ms)",
            f"swapped {swap.swap_seconds:.1f} s after promotion",
        ),
        (
            "8",
            "backtest replay (read + features + score)",
            _rate(report.backtest.rate),
            f"{ratios['backtest_to_full']:.1f}x (4)",
        ),
        (
            "9",
            "scorer memory",
            f"peak RSS {memory.peak_rss_mb:,.0f} MB (VmHWM {memory.hwm_mb:,.0f} MB)",
            f"{memory.slope_mb_per_min:+.2f} MB/min, {memory.slope_mb_per_million:+.1f} MB per million tx "
            f"over {memory.window_seconds:.0f} s",
        ),
        (
            "10",
            "two workers, full scoring (scale-out)",
            _rate(report.two_workers.rate),
            f"{ratios['two_workers_to_full']:.2f}x (4); {report.two_workers.distinct_keys:,} of "
            f"{report.config.messages:,} transactions scored",
        ),
    ]
    lines = [
        f"fraudstream bench: {config.messages:,} transactions ({config.naive_messages:,} for 2), "
        f"{config.partitions} partitions, batch {config.batch_size}, model {config.model_kind.value}, "
        f"{report.machine.cpus} CPUs, load average {_load(report.machine.load_before)} before, "
        f"{_load(report.machine.load_after)} after",
        "",
        "| # | measurement | value | ratio / detail |",
        "|---|---|---:|---|",
        *(f"| {number} | {name} | {value} | {detail} |" for number, name, value, detail in rows),
        "",
        "| target | measured | goal | |",
        "|---|---:|---:|---|",
        *(
            f"| {t.name} | {t.measured:.2f}x | >= {t.threshold:g}x | {'met' if t.met else 'NOT met'} |"
            for t in report.targets()
        ),
    ]
    return "\n".join(lines)
