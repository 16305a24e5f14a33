"""A scenario's figures as a table (Markdown) and as a JSON document."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from typing import Any

from chaos.harness import ScenarioResult

__all__ = ["document", "render"]


def render(result: ScenarioResult) -> str:
    """The figures and the targets, as Markdown tables."""
    load, audit = result.load, result.audit
    recovered = [s for s in result.recovery_s if not math.isnan(s)]
    recovery = (
        f"median {statistics.median(recovered):.1f} s, max {max(recovered):.1f} s"
        f" over {len(recovered)} fault{'' if len(recovered) == 1 else 's'}"
        if recovered
        else "no verdict after a fault"
    )
    versions = ", ".join(f"{version}: {count:,}" for version, count in sorted(audit.versions.items()))
    rows = [
        ("scenario", f"{result.scenario}, {load.transactions:,} transactions at {load.rate:,.0f}/s"),
        ("valid transactions sent", f"{audit.valid_sent:,}"),
        ("verdicts read (raw)", f"{audit.verdicts:,}"),
        ("valid transactions without a verdict", f"{audit.missing:,}"),
        ("raw duplicates (redelivered)", f"{audit.raw_duplicates:,}"),
        ("duplicates after dedupe (features differ)", f"{audit.duplicates_after_dedupe:,}"),
        ("verdicts of unknown transactions", f"{audit.unexpected:,}"),
        ("verdicts per model version", versions or "none"),
        ("verdicts from an unvalidated version", f"{audit.unvalidated:,}"),
        ("recovery after a fault (to the next verdict)", recovery),
        *result.figures.items(),
        ("first transaction sent to last verdict", f"{result.seconds:.1f} s"),
    ]
    table = ["| figure | value |", "|---|---:|", *(f"| {name} | {value} |" for name, value in rows)]
    failures = result.failures()
    verdict = "targets met" if not failures else "targets MISSED: " + "; ".join(failures)
    return "\n".join([*table, *(f"\n{extra}" for extra in result.tables), "", verdict])


def document(result: ScenarioResult) -> dict[str, Any]:
    """Everything measured, for ``--json``."""
    audit = asdict(result.audit)
    audit["versions"] = dict(result.audit.versions)
    return {
        "scenario": result.scenario,
        "load": asdict(result.load),
        "audit": audit,
        "faults_asked": result.faults_asked,
        "failures": result.failures(),
        "recovery_s": [None if math.isnan(s) else s for s in result.recovery_s],
        "seconds": result.seconds,
        "figures": result.figures,
        "tables": result.tables,
    }
