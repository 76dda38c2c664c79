"""``meter simulate``: the command line over the replay (``replay.py``) and the stocks comparison
(``stocks.py``), which builds on the replay's world."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from meter.allocation.policies import POLICIES
from meter.simulation import stocks
from meter.simulation.replay import as_json, format_report, run


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Registers ``simulate`` on the ``meter`` command; ``args.func(args)`` runs it."""
    p = subparsers.add_parser("simulate", help="replay synthetic demand under each allocation policy")
    _arguments(p)
    p.set_defaults(func=command)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="all", choices=[*POLICIES, "all"], help="a policy, or all (default)")
    p.add_argument("--months", type=_positive, default=12, help="months to replay (default 12)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic world (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--stocks", action="store_true", help="compare drf with one metric at a time on the stocks")


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 120:
        raise argparse.ArgumentTypeError("must be 1 to 120")
    return value


def command(args: argparse.Namespace) -> int:
    if args.stocks:
        return _stocks(args)
    names = list(POLICIES) if args.policy == "all" else [args.policy]
    results = run(names, args.months, args.seed)
    if args.json:
        print(json.dumps(as_json(results, args.months, args.seed)))
    else:
        print(format_report(results, args.months, args.seed))
    return 0


def _stocks(args: argparse.Namespace) -> int:
    rows = stocks.run(args.seed)
    print(json.dumps({"seed": args.seed, "stocks": rows}) if args.json else stocks.format_report(rows, args.seed))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="meter simulate", description="Replay synthetic demand under each policy.")
    _arguments(p)
    return command(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
