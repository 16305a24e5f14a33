"""``fraudstream chaos``: fault scenarios against the real local services, with nothing lost."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from fraudcore.settings import Settings
from fraudstream import infra_commands
from fraudstream.argument_types import bounded

__all__ = ["add_parser", "chaos"]

EXIT_TARGETS_MISSED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_FAILED = 4

_DESCRIPTION = """\
Run a fault scenario against the real Kafka, Redis and MLflow (started if they are not running) under
a steady simulated load (--transactions at --rate per second), then read the verdicts topic back and
audit it independently: every valid transaction has a verdict, duplicates are counted (raw, and those
whose features differ, which no deduplication by id can merge), every verdict names a validated model
version, every invalid input is in the dead-letter topic with a reason.

scenarios:
  kill     a real scorer worker is killed with SIGKILL --kills times and restarted at once; recovery
           of a kill is the time to the next verdict (--static-membership: same instance id).
  scale    one worker scores; at the start of each of --cycles even cycles a second worker is
           started and joins the consumer group once up (a rebalance), and at two thirds (at least a
           third of a cycle after it first scored) it leaves (--leave term: SIGTERM, it leaves the
           group; --leave kill: SIGKILL, its partitions move after the session timeout); per join and
           leave, the rebalance pause (the longest time without a verdict) and how many transactions
           each worker scored while both ran.
  redis    the scorer's Redis (a redis-server of the run's own) is stopped at the middle of the
           sending for --outage-seconds, then started again on its data; recovery is from Redis back
           to the next verdict.
  reloads  two valid versions; the champion alias moves between them --reloads times (each with the
           trainer's reload event); every verdict must name one of them.
  models   the lane's models live in a private MLflow tracking server, stopped for --outage-seconds
           once the worker scores: reloads meanwhile must fail and keep the champion while scoring
           goes on; then version 2 is promoted (recovery: MLflow back to its first verdict). Then bad
           reload events: a version whose artifact was damaged, one trained on other features, a
           version that does not exist, an older version's event after a newer one's; the worker
           must keep serving version 2.
  poison   after every --poison-every-th transaction one poison input is sent, the kinds taking turns
           (truncated JSON, wrong types, missing and unknown fields, NaN and infinities, negative and
           huge amounts, non-UTF-8 bytes, empty values and strings, an enormous value, timestamps far
           in the past and future, a transaction id sent twice); those the contract refuses must reach
           the dead-letter topic with their original bytes and a reason, the others must be scored;
           a table shows each kind's outcome.
  broker   the run gets a Kafka broker of its own (topics, worker, sender and verdict reader all use
           it), stopped once the worker scores, at the middle of what is left of the sending, for
           --outage-seconds (--broker-stop term: a clean shutdown, kill: SIGKILL), then started again
           on its data; the sender makes again every send that failed; recovery is from the broker
           back to the next verdict.

Topics, consumer group, Redis namespace and model live under a fresh chaos-<id> prefix, removed at the
end. Exit codes: 0 targets met, 1 a target missed, 2 bad arguments, 3 the infrastructure could not
start, 4 the scenario could not run to its end.
"""


def add_parser(commands: Any) -> None:
    """Register ``chaos`` and its options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "chaos",
        help="run a fault scenario (kill -9 the scorer, scale it, stop Redis, MLflow or Kafka, reloads, bad reload "
        "events, poison inputs) under load; audit the verdicts",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario",
        choices=["kill", "scale", "redis", "reloads", "models", "poison", "broker"],
        help="the fault to inject",
    )
    parser.add_argument(
        "--transactions", type=bounded(int, 1, 100_000_000), default=100_000, metavar="N", help="default 100000"
    )
    parser.add_argument("--rate", type=bounded(float, 1, 1_000_000), default=400.0, metavar="PER_S", help="default 400")
    parser.add_argument("--kills", type=bounded(int, 1, 1_000), default=10, metavar="N", help="kill: default 10")
    parser.add_argument("--reloads", type=bounded(int, 1, 10_000), default=50, metavar="N", help="reloads: default 50")
    parser.add_argument("--cycles", type=bounded(int, 1, 1_000), default=3, metavar="N", help="scale: default 3")
    parser.add_argument(
        "--leave", choices=["term", "kill"], default="term", help="scale: how the second worker leaves (default term)"
    )
    parser.add_argument(
        "--outage-seconds",
        type=bounded(float, 1, 3_600),
        default=30.0,
        metavar="S",
        help="redis, models, broker: default 30",
    )
    parser.add_argument(
        "--poison-every", type=bounded(int, 2, 1_000_000), default=50, metavar="N", help="poison: default 50"
    )
    parser.add_argument(
        "--broker-stop",
        choices=["term", "kill"],
        default="term",
        help="broker: SIGTERM (term, a clean shutdown; default) or SIGKILL (kill)",
    )
    parser.add_argument("--partitions", type=bounded(int, 1, 64), default=3, metavar="N", help="default 3")
    parser.add_argument(
        "--static-membership",
        action="store_true",
        help="kill: restart the worker with the same FRAUD_SCORER_INSTANCE_ID (no rebalance); scale: an id per worker",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="simulation seed (default 0)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE (JSON)")
    parser.set_defaults(handler=chaos)


def chaos(args: argparse.Namespace, settings: Settings) -> int:
    """Run the scenario, print its figures and whether the targets are met."""
    if args.json is not None and not args.json.parent.is_dir():
        print(f"fraudstream chaos: --json {args.json}: the folder {args.json.parent} does not exist", file=sys.stderr)
        return EXIT_USAGE
    from chaos.broker_outage import BrokerStop, run_broker_outage
    from chaos.harness import ChaosError, Load
    from chaos.kill import run_kill
    from chaos.model_faults import run_model_faults
    from chaos.poison import run_poison
    from chaos.redis_outage import run_redis_outage
    from chaos.reloads import run_reloads
    from chaos.report import document, render
    from chaos.scale import run_scale

    load = Load(transactions=args.transactions, rate=args.rate, partitions=args.partitions, seed=args.seed)
    if infra_commands.up(args, settings) != 0:
        return EXIT_INFRA
    say = partial(print, flush=True)
    try:
        if args.scenario == "kill":
            result = run_kill(settings, load, args.kills, say, static_membership=args.static_membership)
        elif args.scenario == "scale":
            result = run_scale(
                settings, load, args.cycles, say, leave=args.leave, static_membership=args.static_membership
            )
        elif args.scenario == "broker":
            result = run_broker_outage(settings, load, args.outage_seconds, BrokerStop(args.broker_stop), say)
        elif args.scenario == "redis":
            result = run_redis_outage(settings, load, args.outage_seconds, say)
        elif args.scenario == "reloads":
            result = run_reloads(settings, load, args.reloads, say)
        elif args.scenario == "models":
            result = run_model_faults(settings, load, args.outage_seconds, say)
        else:
            result = run_poison(settings, load, args.poison_every, say)
    except ChaosError as error:
        print(f"fraudstream chaos: {error}", file=sys.stderr)
        return EXIT_FAILED
    print()
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(document(result), indent=1) + "\n", encoding="utf-8")
        print(f"written: {args.json}")
    return EXIT_TARGETS_MISSED if result.failures() else 0
