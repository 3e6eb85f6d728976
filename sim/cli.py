"""The `channelsim` command."""

from __future__ import annotations

import argparse
import sys
import tomllib
from typing import Any

from sim.params import ParameterError

EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input from the user: printed as one message, exit code 2, no traceback."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """`path=value`, the value read as a TOML literal (0.04, true, "name", [1, 2]); bare words are strings."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected path=value, e.g. --set vendor.rebate.rate=0.04")
    path, raw = (part.strip() for part in text.split("=", 1))
    if not path:
        raise UserError(f"--set {text!r}: the path before '=' is empty")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path, value


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _command(sub, name: str, help_text: str, examples: str):
    return sub.add_parser(name, help=help_text, description=help_text, epilog=f"examples:\n{examples}",
                          formatter_class=_Formatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="channelsim",
        description="Simulate a vendor's indirect sales channel: partner firms, rival vendors and the "
                    "incentives and CAM time that shift partner effort, quarter by quarter.",
        epilog="examples:\n  channelsim run\n  channelsim run --quarters 12 --set vendor.rebate.rate=0.05\n"
               "  channelsim bench --json",
        formatter_class=_Formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = _command(sub, "run", "Run the channel and print its quarterly KPIs.",
                   "  channelsim run\n"
                   "  channelsim run --quarters 12 --seed 7\n"
                   "  channelsim run --set vendor.margin.base=0.25 --set partners.count=2000\n")
    run.add_argument("--quarters", type=int, help="quarters to run (default: the scenario's horizon)")
    run.add_argument("--seed", type=int, default=1, help="random seed")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="PATH=VALUE",
                     help="override a parameter by its dotted path (repeatable)")

    bench = _command(sub, "bench", "Measure the speed and memory of the quarterly step (1,000 to 100,000 partners).",
                     "  channelsim bench\n  channelsim bench --json\n  channelsim bench --sizes 1000 10000\n")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], metavar="N",
                       help="partner counts to measure")
    bench.add_argument("--quarters", type=int, default=40, help="quarters per run")
    return parser


def cmd_run(args) -> int:
    from sim.model import ChannelModel

    overrides = dict(parse_assignment(a) for a in args.assignments)
    if args.quarters is not None:
        if args.quarters < 1:
            raise UserError(f"--quarters {args.quarters}: must be at least 1")
        overrides["quarters"] = args.quarters
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be a non-negative integer")
    model = ChannelModel(rng=args.seed, **{path.replace(".", "__"): v for path, v in overrides.items()})
    frame = model.run()
    print(f"{model.params.meta.title}: {model.params.partners.count:,} partners at the start, "
          f"{model.n_vendors - 1} rivals, seed {model.seed}")
    print(kpi_table(frame).to_string())
    return 0


def kpi_table(frame):
    """The headline KPIs, formatted for a terminal."""
    table = frame.set_index("quarter")
    table.index = table.index.astype(int)
    return table.assign(
        revenue_m=table.revenue / 1e6,
        spend_pct=table.spend_pct_revenue,
        median_profit_k=table.median_partner_profit / 1e3,
    )[["revenue_m", "mindshare", "win_rate", "active_ratio", "top20_share", "spend_pct", "median_profit_k"]].round(
        {"revenue_m": 2, "mindshare": 3, "win_rate": 3, "active_ratio": 3, "top20_share": 3, "spend_pct": 2,
         "median_profit_k": 1})


def cmd_bench(args) -> int:
    from sim import bench

    if any(n < 1 for n in args.sizes):
        raise UserError("--sizes: partner counts must be positive")

    def progress(row):
        if not args.json:
            print(f"  measured {row['partners']:,} partners", file=sys.stderr, flush=True)

    result = bench.measure(sizes=tuple(args.sizes), quarters=args.quarters, progress=progress)
    print(bench.to_json(result) if args.json else bench.render(result))
    return 0


COMMANDS = {"run": cmd_run, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return COMMANDS[args.command](args)
    except (UserError, ParameterError) as error:
        print(f"channelsim {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
