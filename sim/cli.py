"""The `channelsim` command: run, compare and validate scenarios; sweep and analyze experiments; watch a
channel in the browser; measure speed.

Bad input (a scenario, roster or option) is one short message per problem on stderr, exit code
2, no traceback, and no output folder created or changed. Anything else that goes wrong is a
bug: exit code 1 with the traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from sim import outputs
from sim.errors import InputError

EXIT_BAD_INPUT = 2
MAX_WORKERS = 512


class UserError(InputError):
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
    def _get_help_string(self, action):  # a default only where there is one to say, and only once
        if action.default in (None, [], False, argparse.SUPPRESS) or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors are bad input too: exit 2, as argparse does, with our prefix
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")


def _command(sub, name: str, help_text: str, examples: str):
    return sub.add_parser(name, help=help_text, description=help_text, epilog=f"examples:\n{examples}",
                          formatter_class=_Formatter)


def _run_options(parser, many: bool = False) -> None:
    parser.add_argument("--quarters", type=int, help="quarters to run (default: the scenario's `quarters`)")
    parser.add_argument("--replicates", type=int, help="replicates (default: the scenario's `run.replicates`)")
    parser.add_argument("--seed", type=int, help="base seed; replicate r runs on a seed derived from it and r "
                                                 "(default: the scenario's `run.seed`)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="PATH=VALUE",
                        help="override a parameter by its dotted path, in every scenario (repeatable)")
    parser.add_argument("--partners", action="store_true", help="also write the partner panel (partners.parquet)")
    parser.add_argument("--out", type=Path,
                        help="output folder: a new one, or earlier results of channelsim's, which are replaced "
                             "only once the new ones are complete (default: out/<scenario name>)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help=f"worker processes (1 to {MAX_WORKERS})")
    parser.add_argument("--window", metavar="FIRST:LAST",
                        help="the quarters the KPIs and every answer card are read over, inside the horizon, e.g. "
                             "5:8 or 12 (default: each card its own scenario's `meta.window`, the table the first "
                             "compared scenario's; else the final year)")
    parser.add_argument("--ensemble", type=int, metavar="K",
                        help="run the replicates under K parameter draws of the calibration the scenarios come from "
                             "(their `meta.ensemble`, written by channelsim calibrate), chosen by the seed: "
                             "replicate j of K x R runs draw j // R on its own seed, the same in every scenario, so "
                             "the intervals carry the calibration's uncertainty as well as the seed noise")


def _executor_options(parser) -> None:
    """Where a sweep's or a calibration's work runs: local processes, a Dask LocalCluster or a Dask scheduler."""
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, MAX_WORKERS),
                        help=f"local worker processes (1: in this process), or LocalCluster workers "
                             f"(1 to {MAX_WORKERS})")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://127.0.0.1:8786")
    where.add_argument("--cluster", choices=["local"], help="start a Dask LocalCluster on this machine")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="channelsim",
        description="Simulate a vendor's indirect sales channel: partner firms, rival vendors and the "
                    "incentives and CAM time that shift partner effort, quarter by quarter.",
        epilog="examples:\n  channelsim run scenarios/baseline.toml\n"
               "  channelsim compare scenarios/baseline.toml scenarios/healthcare_spif.toml\n"
               "  channelsim sweep experiments/rebate_grid.toml --out out/rebate-grid\n"
               "  channelsim analyze out/rebate-grid\n"
               "  channelsim validate scenarios/*.toml\n  channelsim bench --json",
        formatter_class=_Formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _command(sub, "run", "Run a scenario's replicates and write tables, figures and a report.",
                   "  channelsim run scenarios/baseline.toml\n"
                   "  channelsim run scenarios/baseline.toml --replicates 20 --workers 2\n"
                   "  channelsim run scenarios/healthcare_spif.toml --quarters 16 --set vendor.spif.amount=800\n"
                   "  channelsim run scenarios/baseline.toml --partners --out out/with-panel\n"
                   "  channelsim run out/calibration/calibrated.toml --ensemble 20 --replicates 5\n")
    run.add_argument("scenario", type=Path, help="scenario file (TOML)")
    _run_options(run)

    compare = _command(sub, "compare", "Run scenarios on the same seeds and report each against the first.",
                       "  channelsim compare scenarios/baseline.toml scenarios/mdf_to_top20.toml\n"
                       "  channelsim compare scenarios/rival_attack.toml scenarios/rival_attack_defend_*.toml\n"
                       "  channelsim compare scenarios/baseline.toml scenarios/healthcare_spif.toml "
                       "--replicates 30 --out out/spif\n"
                       "  channelsim compare scenarios/baseline.toml scenarios/certification_funding.toml "
                       "--window 9:16\n"
                       "  channelsim compare out/calibration/calibrated.toml my_proposal.toml --ensemble 20  "
                       "# my_proposal.toml extends the calibrated.toml\n")
    compare.add_argument("base", type=Path, help="the base scenario")
    compare.add_argument("others", type=Path, nargs="+", metavar="other", help="scenarios to compare with it")
    _run_options(compare, many=True)

    responses = _command(sub, "responses", "Measure how the channel answers each headline lever (paired -10 %%/+10 %% "
                                           "changes on the same seeds) and its elasticities to selling effort and MDF.",
                         "  channelsim responses\n"
                         "  channelsim responses scenarios/rival_attack.toml --replicates 16\n"
                         "  channelsim responses --levers margin,rebate --partners 200 --quarters 20\n"
                         "  channelsim responses scenarios/baseline.toml --json out/responses.json\n")
    responses.add_argument("scenario", type=Path, nargs="?", default=Path(__file__).resolve().parent.parent
                           / "scenarios" / "baseline.toml", help="scenario file (TOML; default: the baseline channel)")
    responses.add_argument("--replicates", type=int, default=8, help="replicates, run on the same seeds for every "
                                                                    "change (at least 2)")
    responses.add_argument("--seed", type=int, help="base seed; replicate r runs on a seed derived from it and r, as "
                                                    "in channelsim run (default: the scenario's `run.seed`)")
    responses.add_argument("--quarters", type=int, help="quarters to run (default: the scenario's `quarters`)")
    responses.add_argument("--partners", type=int, help="partner count (default: the scenario's `partners.count`)")
    responses.add_argument("--levers", metavar="NAMES",
                           help="only these levers, comma-separated: margin, rebate, mdf, cams, spif, "
                                "deal_registration, certification (default: all)")
    responses.add_argument("--json", type=Path, metavar="PATH",
                           help="also write the card as JSON to this file (new, or a card channelsim wrote, replaced "
                                "whole)")

    sweep = _command(sub, "sweep", "Run an experiment's design on local processes or a Dask cluster, resumably.",
                     "  channelsim sweep experiments/rebate_grid.toml --out out/rebate-grid\n"
                     "  channelsim sweep experiments/levers_sobol.toml --out out/sobol --workers 2\n"
                     "  channelsim sweep experiments/levers_sobol.toml --out out/sobol --resume\n"
                     "  channelsim sweep experiments/cam_coverage_lhs.toml --out out/cam --scheduler tcp://10.0.0.5:8786\n"
                     "  channelsim sweep experiments/cam_coverage_lhs.toml --out out/cam --cluster local --workers 2\n")
    sweep.add_argument("experiment", type=Path, help="experiment file (TOML)")
    sweep.add_argument("--out", type=Path, required=True,
                       help="results folder (new, or this experiment's with --resume)")
    _executor_options(sweep)
    sweep.add_argument("--resume", action="store_true", help="run only the runs the folder does not hold yet")

    calibrate = _command(sub, "calibrate", "Fit a scenario's parameters to your channel's observed history (Optuna), "
                                           "say how well and how surely, and write a calibrated scenario to run.",
                         "  channelsim calibrate experiments/calibration/calibration.toml --out out/calibration\n"
                         "  channelsim calibrate experiments/calibration/calibration.toml --out out/calibration "
                         "--trials 400 --resume\n"
                         "  channelsim calibrate my_channel.toml --out out/mine --workers 2\n"
                         "  channelsim calibrate my_channel.toml --out out/mine --cluster local --workers 2\n"
                         "  channelsim run out/calibration/calibrated.toml --ensemble 8\n")
    calibrate.add_argument("calibration", type=Path, help="calibration file (TOML)")
    calibrate.add_argument("--out", type=Path, required=True,
                           help="results folder (new, or this calibration's with --resume)")
    calibrate.add_argument("--trials", type=int, help="trials in all (default: the file's calibration.trials); with "
                                                      "--resume, more than before goes on")
    _executor_options(calibrate)
    calibrate.add_argument("--resume", action="store_true", help="go on from the trials the folder holds")

    analyze = _command(sub, "analyze", "Summarise a sweep: per design point, sensitivity indices, replicate check.",
                       "  channelsim analyze out/rebate-grid\n"
                       "  channelsim analyze out/sobol --kpi revenue mindshare\n"
                       "  channelsim analyze out/cam --precision 0.02\n")
    analyze.add_argument("folder", type=Path, help="a sweep's results folder")
    analyze.add_argument("--kpi", nargs="+", metavar="KPI",
                         help="KPIs to analyse (default: the experiment's [analysis] kpis, then revenue, net_revenue, "
                              "mindshare, active_ratio, attrition, partner_payments)")
    analyze.add_argument("--precision", type=float, default=0.05,
                         help="target 95 %% half-width relative to the mean, for the replicate check")

    validate = _command(sub, "validate", "Check scenario and experiment files (.toml) and rosters (.csv) without "
                                         "running them.",
                        "  channelsim validate scenarios/baseline.toml\n  channelsim validate scenarios/*.toml\n"
                        "  channelsim validate experiments/*.toml\n  channelsim validate my_partners.csv\n")
    validate.add_argument("files", type=Path, nargs="+", metavar="FILE")

    bench = _command(sub, "bench", "Measure the speed and memory of the quarterly step (1,000 to 100,000 partners).",
                     "  channelsim bench\n  channelsim bench --json\n  channelsim bench --sizes 1000 10000\n"
                     "  channelsim bench --sweep\n  channelsim bench --viz\n")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--sizes", type=int, nargs="+", metavar="N",
                       help="partner counts to measure (default: 1,000, 10,000 and 100,000; with --viz 1,000 and "
                            "10,000)")
    bench.add_argument("--quarters", type=int, default=40, help="quarters per run")
    bench.add_argument("--sweep", action="store_true",
                       help="measure sweeps instead: 1,000 runs on 2 workers, 1 vs 2 workers, and mesa.batch_run")
    bench.add_argument("--viz", action="store_true",
                       help="measure the browser app instead: Step to quarter painted in Chromium with the baseline "
                            "alongside, 1,000 and 10,000 partners, and the server's memory per browser session at "
                            "1,000 partners (needs playwright and /usr/bin/chromium)")
    bench.add_argument("--runs", type=int, default=1000, help="with --sweep: runs in the sweep")
    bench.add_argument("--subset", type=int, help="with --sweep: compare with 1 worker and batch_run on this many "
                                                  "of the runs (default: all)")
    viz = _command(sub, "viz", "Watch and steer a channel in the browser (Mesa's SolaraViz), quarter by quarter.",
                   "  channelsim viz\n  channelsim viz scenarios/rival_attack.toml --port 8800\n"
                   "  channelsim viz --partners 10000\n"
                   "  channelsim viz --results out/rebate_ladder     # a comparison's answers and charts\n"
                   "  channelsim viz --host 0.0.0.0     # reachable from other machines (a workshop room)\n")
    viz.add_argument("scenario", type=Path, nargs="?", default=Path(__file__).resolve().parent.parent
                     / "scenarios" / "baseline.toml",
                     help="the scenario shown first; the picker lists the .toml files in its folder")
    viz.add_argument("--port", type=int, default=8765, help="port to serve on")
    viz.add_argument("--host", default="127.0.0.1",
                     help="address to serve on; every interface (0.0.0.0) only if you say so, with a warning")
    viz.add_argument("--partners", type=int, help="partner count for every scenario (default: each scenario's)")
    viz.add_argument("--seed", type=int, default=1, help="the seed the page starts with")
    viz.add_argument("--results", type=Path, metavar="DIR",
                     help="open a results folder of run, compare, sweep or calibrate (read-only); the page's picker "
                          "lists the results folders beside it")
    return parser


# --------------------------------------------------------------------------- run and compare


def _positive(name: str, value: int | None, most: int | None = None) -> None:
    if value is not None and value < 1:
        raise UserError(f"--{name} {value}: must be greater than or equal to 1")
    if value is not None and most is not None and value > most:
        raise UserError(f"--{name} {value}: must be less than or equal to {most}")


# options that set a parameter of the tree: its bounds are the tree's, its errors are the option's
OPTION_PATHS = {"quarters": "quarters", "replicates": "run.replicates", "seed": "run.seed"}


def _load_all(paths: list[Path], args) -> list:
    """Every scenario read and checked, and every option with it; raises UserError with all problems."""
    from sim import scenarios
    from sim.errors import display
    from sim.params import ParameterError, check_path

    overrides, problems = {}, []
    for text in args.assignments:
        path, value = parse_assignment(text)
        try:
            check_path(path)
        except ParameterError as error:
            problems += [f"--set: {p}" for p in error.problems]
        overrides[path] = value
    origins = {}
    for option, path in OPTION_PATHS.items():
        value = getattr(args, option)
        if value is not None:
            overrides[path], origins[path] = value, f"--{option}"
    _positive("workers", args.workers, MAX_WORKERS)
    _positive("ensemble", getattr(args, "ensemble", None))
    if problems:
        raise UserError("\n".join(problems))
    loaded = []
    for path in paths:
        try:
            loaded.append(scenarios.load(path, overrides, origins))
        except scenarios.ScenarioError as error:
            problems += [p for p in error.problems if p not in problems]
    if problems:
        raise UserError("\n".join(problems))
    horizons = {item.params.quarters for item in loaded}
    if len(horizons) > 1:
        listed = ", ".join(f"{display(item.path)} has quarters = {item.params.quarters}" for item in loaded)
        raise UserError(f"the scenarios run over different horizons ({listed}); a comparison needs one: "
                        "give it with --quarters N")
    return loaded


def _output_folder(args, names: list[str], loaded: list, kind: str) -> Path:
    """The folder results go to, checked before any work: new, or channelsim's own results of this kind."""
    inputs = [file for item in loaded for file in item.inputs]
    out = args.out or outputs.default_folder(names[0] if kind == "run" else f"{names[0]}-vs-{'+'.join(names[1:])}")
    outputs.check(out, kind, "--out" if args.out else "the default output folder (give one with --out)", inputs)
    return out


def parse_window(text: str | None, quarters: int) -> tuple[int, int] | None:
    """--window FIRST:LAST (or one quarter) as a pair inside 1..quarters; UserError otherwise."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        first, last = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except ValueError:
        first = last = None
    if first is None:
        raise UserError(f"--window {text}: give the first and last quarter as FIRST:LAST, e.g. 5:8, or one quarter")
    if not 1 <= first <= last <= quarters:
        raise UserError(f"--window {text}: must satisfy 1 <= first <= last <= {quarters} (the horizon's quarters)")
    return first, last


def _execute(args, paths: list[Path], kind: str) -> int:
    from sim import results, runner
    from sim.errors import display

    loaded = _load_all(paths, args)
    first = loaded[0].params
    asked = parse_window(args.window, first.quarters)
    from sim.calibration import changed_since

    for note in dict.fromkeys(n for item in loaded for n in changed_since(item)):
        print(f"channelsim {kind}: {note}", file=sys.stderr)
    results.check_answers(loaded)
    window, origin = results.window_of(loaded, asked)
    names = results.unique_names(loaded)
    draws = None
    if args.ensemble is not None:  # the draws checked against every scenario before the folder, before any work
        from sim import ensemble

        draws = ensemble.for_runs(loaded, args.ensemble)
    out = _output_folder(args, names, loaded, kind)
    runs = results.prepare_runs(loaded, names)
    others = [item.params.meta for item in loaded[1:]] if kind == "compare" else []
    partners = args.partners or any(meta.groups for meta in others)
    outcomes = runner.run(runs, first.run.replicates, first.run.seed, workers=args.workers, partners=partners,
                          draws=draws.overrides if draws is not None else None)
    if draws is not None and any(meta.marginal for meta in others):
        print(f"channelsim {kind}: note: the next unit's returns (meta.marginal) are measured at the scenarios' "
              f"calibrated values on {first.run.replicates} replicates, not across the --ensemble draws",
              file=sys.stderr)
    marginal = {}
    for name, item in zip(names[1:], loaded[1:], strict=True) if kind == "compare" else ():
        if item.params.meta.marginal:
            from sim import marginal as next_unit

            marginal[name] = next_unit.measure(
                item.params, first.run.replicates, first.run.seed,
                levers=tuple(item.params.meta.marginal), window=results.card_window(item, first.quarters, asked),
                workers=args.workers, progress=True)
    written = results.write(out, kind, loaded, names, outcomes, window, marginal, asked, draws)
    from sim.report import window_label  # (imported by the writing already)

    drawn = f" of {display(draws.path)}" if draws is not None else ""
    print(f"{written.title} — {results.runs_label(first, draws)}{drawn} x {first.quarters} quarters, seed "
          f"{first.run.seed}; read over {window_label(window)} ({origin})")
    if written.ranking:
        print(written.ranking)
    for card in written.cards:
        print(card.text())
    print(f"difference from {names[0]} [95 % interval]" if kind == "compare" else "KPIs, mean [95 % interval]")
    print(written.table.to_string())
    print(f"written to {display(out)}/ ({', '.join(written.files)})")
    return 0


def cmd_run(args) -> int:
    return _execute(args, [args.scenario], "run")


def cmd_compare(args) -> int:
    return _execute(args, [args.base, *args.others], "compare")


def cmd_responses(args) -> int:
    from sim import responses, scenarios
    from sim.errors import display

    levers = responses.pick_levers(args.levers)
    options = {"quarters": "quarters", "seed": "run.seed", "partners": "partners.count", "replicates": "run.replicates"}
    overrides = {path: getattr(args, option) for option, path in options.items() if getattr(args, option) is not None}
    loaded = scenarios.load(args.scenario, overrides, {path: f"--{option}" for option, path in options.items()})
    if args.replicates < 2:
        raise UserError(f"--replicates {args.replicates}: the card's intervals need at least 2 replicates")
    if args.partners is not None and loaded.params.partners.roster:
        raise UserError(f"--partners {args.partners}: {display(args.scenario)} takes its partners from a roster "
                        f"({display(loaded.params.partners.roster)}); --partners sets a synthetic population's size")
    target = responses.check_json_path(args.json) if args.json is not None else None
    params = loaded.params
    card = responses.measure(params, args.replicates, params.run.seed, levers, scenario=display(args.scenario))
    print(responses.render(card))
    if target is not None:
        responses.write_json(card, target)
        print(f"written to {display(args.json)}")
    return 0


def cmd_sweep(args) -> int:
    from sim.errors import display
    from sim.experiments import load_experiment
    from sim.sweep import check_scheduler, sweep

    # every check before any work or write, in this order: the options, the scheduler, the experiment (the
    # size of its design before any design is built), the folder; only then the executor starts
    _positive("workers", args.workers, MAX_WORKERS)
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    experiment = load_experiment(args.experiment)
    summary = sweep(experiment, args.out, workers=args.workers, scheduler=args.scheduler, cluster=args.cluster,
                    resume=args.resume)
    where = args.scheduler or ("a Dask LocalCluster" if args.cluster else
                               f"{args.workers} local worker{'s' if args.workers > 1 else ''}")
    print(f"{experiment.name}: {summary.runs} runs ({experiment.spec.experiment.design}, "
          f"{len(experiment.points)} design points x {experiment.spec.experiment.replicates} replicates) on {where}")
    unfinished = f", {summary.unfinished} did not finish" if summary.unfinished else ""
    restarts = f"; the worker pool was restarted {summary.restarts} times" if summary.restarts else ""
    print(f"  this time: {summary.ran} runs in {summary.seconds:.1f} s ({summary.ok} ok, "
          f"{summary.ran - summary.ok} failed{unfinished}); earlier: {summary.skipped}{restarts}")
    if summary.failed:
        print(f"  failed runs ({len(summary.failed)}; tracebacks in failures.csv):")
        for entry in summary.failed[:10]:
            params = ", ".join(f"{k}={v}" for k, v in entry["params"].items())
            print(f"    run {entry['run']} (point {entry['point']}, replicate {entry['replicate']}, seed "
                  f"{entry['seed']}; {params}): {entry['error'].strip().splitlines()[-1]}")
    written = [f"{kind}.parquet" for kind in ("final", "quarters", "partners")
               if (args.out / f"{kind}.parquet").exists()]
    if written:
        print(f"  written to {display(args.out)}/ ({', '.join(written)}, manifest.jsonl, failures.csv); "
              f"next: channelsim analyze {display(args.out)}")
    else:
        print(f"  written to {display(args.out)}/ (manifest.jsonl, failures.csv); no run succeeded, so there are "
              "no results to analyze")
    if summary.unfinished:  # lost by the executor, not failed: nothing recorded, --resume runs them
        print(f"channelsim sweep: {summary.unfinished} of {summary.runs} runs did not finish ({summary.lost}); they "
              f"are not recorded, and `channelsim sweep {args.experiment} --out {args.out} --resume` runs them",
              file=sys.stderr)
        return 1
    return 0


def cmd_calibrate(args) -> int:
    from sim.calibrate import Lost, calibrate
    from sim.calibration import load_calibration
    from sim.errors import display
    from sim.sweep import check_scheduler

    _positive("workers", args.workers, MAX_WORKERS)
    _positive("trials", args.trials, 100_000)
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    calibration = load_calibration(args.calibration)
    setup = calibration.spec.calibration
    try:
        summary, found = calibrate(calibration, args.out, trials=args.trials, workers=args.workers,
                                   scheduler=args.scheduler, cluster=args.cluster, resume=args.resume)
    except Lost as error:
        print(f"channelsim calibrate: {error}; the trials that finished are recorded, and `channelsim calibrate "
              f"{args.calibration} --out {args.out} --resume` goes on from them", file=sys.stderr)
        return 1
    where = args.scheduler or ("a Dask LocalCluster" if args.cluster else
                               f"{args.workers} local worker{'s' if args.workers > 1 else ''}")
    print(f"{calibration.name}: {summary.trials} trials x {setup.replicates} replicates ({setup.sampler}) on {where}; "
          f"this time {summary.ran} in {summary.seconds:.1f} s ({summary.failed} failed), earlier {summary.earlier}")
    best = found["best"]
    from sim.calibration_report import goodness

    print(f"best: trial {best['trial']}, mismatch {best['mismatch']:.4g}; {len(found['ensemble'])} trials as good as "
          "the best (the ensemble)")
    print(goodness(found["consistency"], setup.check))
    table = found["verdicts"].set_index("parameter")
    shown = table[["best", "profile_low", "profile_high", "ensemble_low", "ensemble_high", "low", "high",
                   "verdict"]].rename(columns={"profile_low": "profile from", "profile_high": "to",
                                               "ensemble_low": "good trials from", "ensemble_high": "to ",
                                               "low": "range from", "high": "range to"})
    print(shown.to_string(float_format=lambda v: f"{v:.4g}"))
    held = found["holdout"]
    if len(held):
        print("held-out quarters, mean relative error of the model and of the last fitted year carried forward; "
              "observations inside the 95 % band over the consistent parameters and seeds:")
        for r in held.itertuples():
            print(f"  {r.target}: model {100 * r.model_error:.1f} %, naive {100 * r.naive_error:.1f} %; {r.in_band}")
    kept = list(table.index[table["verdict"] == "not identified"])
    if kept:
        print(f"not identified by these targets, so left at the base scenario's values in calibrated.toml and drawn "
              f"across their ranges in the ensemble: {', '.join(kept)}")
    out = display(args.out)
    print(f"written to {out}/ (calibrated.toml, ensemble.csv, trials.parquet, verdicts.csv, fit.html, ...); next: "
          f"channelsim run {out}/calibrated.toml")
    return 0


def cmd_analyze(args) -> int:
    from sim.analysis import analyze, describe_missing
    from sim.errors import display

    if not 0 < args.precision < 1:
        raise UserError(f"--precision {args.precision}: a relative half-width between 0 and 1, e.g. 0.05")
    result = analyze(args.folder, args.kpi, args.precision)
    info = result.info
    print(f"{info.get('title', info['experiment'])}: {info['design']} design over {', '.join(info['parameters'])}")
    for text in (describe_missing(result.missing), result.note):
        if text:
            print(text)
    if result.indices is not None and len(result.indices):
        print(result.indices.round(3).to_string(index=False))
        print(f"seed_noise: the share of the variance between design points that is seed noise; an index "
              f"below it cannot be told from noise{' (needs 2 or more replicates)' if info['replicates'] < 2 else ''}")
    if len(result.verdicts):
        print(f"replicates: {int(result.verdicts['replicates'].iloc[0])} per point; relative 95 % half-width "
              f"(target {args.precision:g}):")
        print(result.verdicts[["kpi", "relative_half_width", "reached", "replicates_needed"]].round(4)
              .to_string(index=False))
    print(f"written to {display(args.folder / 'analysis')}/ (points.csv, report.html, "
          + ", ".join(f"{n}.png" for n in result.figures) + ")")
    return 0


def validate_any(path: Path) -> str:
    """Check a scenario, a roster, an experiment or a calibration file without running it; returns a one-line
    verdict."""
    from sim import scenarios
    from sim.errors import display
    from sim.experiments import load_experiment

    data = scenarios.read_toml(path) if path.suffix.lower() != ".csv" else {}
    if "calibration" in data:
        from sim.calibration import load_calibration

        calibration = load_calibration(path)
        setup = calibration.spec.calibration
        chain = " <- ".join(display(p) for p in reversed(scenarios.load(calibration.scenario).chain))
        return (f"{display(path)}: ok (a calibration of {len(calibration.parameters)} parameter"
                f"{'s' if len(calibration.parameters) > 1 else ''} to {len(calibration.spec.targets)} target"
                f"{'s' if len(calibration.spec.targets) > 1 else ''}, {setup.trials} trials x {setup.replicates} "
                f"replicates; on {chain})")
    if "experiment" in data:
        experiment = load_experiment(path)
        design = experiment.spec.experiment
        chain = " <- ".join(display(p) for p in reversed(scenarios.load(path.parent / design.scenario).chain))
        return (f"{display(path)}: ok (an experiment: {design.design} design over "
                f"{len(experiment.parameters)} parameter{'s' if len(experiment.parameters) > 1 else ''}, "
                f"{len(experiment.points):,} points x {design.replicates} replicates; on {chain})")
    return scenarios.validate_file(path)


def cmd_validate(args) -> int:
    from sim.scenarios import ScenarioError

    failed = 0
    for path in args.files:
        try:
            print(validate_any(path))
        except ScenarioError as error:
            failed += 1
            for problem in error.problems:
                print(problem, file=sys.stderr)
    return EXIT_BAD_INPUT if failed else 0


def cmd_bench(args) -> int:
    from sim import bench
    from sim.params import PARTNERS_MAX, QUARTERS_MAX

    for size in args.sizes or ():
        _positive("sizes", size, PARTNERS_MAX)
    _positive("quarters", args.quarters, QUARTERS_MAX)
    _positive("runs", args.runs, 1_000_000)
    _positive("subset", args.subset, args.runs)

    def progress(row):
        if not args.json:
            what = row["partners"]
            print(f"  measured {what:,} partners" if isinstance(what, int) else f"  measured {what}", file=sys.stderr,
                  flush=True)

    if args.viz:
        from sim import serve

        steps = serve.measure_viz(sizes=tuple(args.sizes or (1_000, 10_000)), progress=progress)
        sessions = serve.measure_sessions(partners=1_000, quarters=args.quarters, sessions=3)
        print(bench.to_json({"steps": steps, "sessions": sessions}) if args.json
              else serve.render_viz(steps) + "\n" + serve.render_sessions(sessions))
        return 0
    if args.sweep:
        result = bench.measure_sweeps(runs=args.runs, quarters=args.quarters, subset=args.subset, progress=progress)
        print(bench.to_json(result) if args.json else bench.render_sweeps(result))
        return 0
    result = bench.measure(sizes=tuple(args.sizes or (1_000, 10_000, 100_000)), quarters=args.quarters,
                           progress=progress)
    print(bench.to_json(result) if args.json else bench.render(result))
    return 0


def cmd_viz(args) -> int:
    import ipaddress
    import socket

    from sim.scenarios import load

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: a port between 1 and 65535, e.g. 8765")
    host = args.host
    if not host.strip():
        raise UserError(f"--host {host!r}: empty; give the address to serve on: 127.0.0.1 (the default, this "
                        "machine only), or 0.0.0.0 to be reachable from other machines")
    overrides = {"run.seed": args.seed} | ({"partners.count": args.partners} if args.partners is not None else {})
    load(args.scenario, overrides, {"run.seed": "--seed", "partners.count": "--partners"})
    if args.results is not None:
        from sim.results_view import ResultsError, read_results

        try:
            read_results(args.results)
        except ResultsError as error:
            raise UserError(f"--results {args.results}: {error}") from None
    try:
        family, *_, address = socket.getaddrinfo(host, args.port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise UserError(f"--host {host}: not a host name or address that resolves "
                        f"({getattr(error, 'strerror', None) or error}); e.g. 127.0.0.1") from None
    try:
        with socket.create_server(address[:2], family=family):
            pass
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        if error.errno == errno.EADDRINUSE:
            raise UserError(f"--port {args.port}: already in use on {host}; choose another port with --port") from None
        if error.errno == errno.EACCES:
            raise UserError(f"--port {args.port}: serving on it needs privileges (ports below 1024); choose a port "
                            "above 1024, e.g. 8765") from None
        if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
            raise UserError(f"--host {host}: not an address of this machine ({reason}); e.g. 127.0.0.1") from None
        raise UserError(f"--host {host} --port {args.port}: cannot serve there ({reason})") from None
    if ipaddress.ip_address(address[0].split("%")[0]).is_unspecified:
        print(f"channelsim viz: warning: --host {host} serves on every network interface: anyone who can reach "
              "this machine can open the page and run models on it", file=sys.stderr, flush=True)
    env = {**os.environ, "CHANNELSIM_SCENARIO": str(args.scenario.resolve()), "CHANNELSIM_SEED": str(args.seed)}
    if args.partners:
        env["CHANNELSIM_PARTNERS"] = str(args.partners)
    env.pop("CHANNELSIM_RESULTS", None)
    if args.results is not None:
        env["CHANNELSIM_RESULTS"] = str(args.results.resolve())
    app = Path(__file__).resolve().parent / "app.py"
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"channelsim viz: serving {args.scenario} at http://{shown}:{args.port}/ (Ctrl-C stops)", flush=True)
    command = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host, "--port", str(args.port),
               "--no-open", "--production", "--log-level", "warning"]
    os.execve(sys.executable, command, env)  # the server replaces this process: signals reach it directly
    return 0  # not reached


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "responses": cmd_responses, "sweep": cmd_sweep,
            "calibrate": cmd_calibrate, "analyze": cmd_analyze, "validate": cmd_validate, "bench": cmd_bench,
            "viz": cmd_viz}


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that what it was writing is cleaned up as on Ctrl-C."""


class Signals:
    """How Ctrl-C (SIGINT) and SIGTERM reach the command line.

    While the program starts, they are only remembered: an import cut short can leave a library half
    set up (pydantic, for one, swallows the interrupt and builds a broken validator). Once it runs,
    they are raised where the process is (KeyboardInterrupt, Terminated), so staging folders and
    worker pools are cleaned up, and remembered: a library that turns the interrupt into an error of
    its own (matplotlib does) still ends the command as an interruption, not as a bug."""

    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, Any] = {}
        self.starting = True
        self.pid = os.getpid()

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self.pid:  # a forked child inherits the handler: it ends as the signal would end it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.received = signum
        if not self.starting:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    @property
    def code(self) -> int:
        return 128 + int(self.received)

    @property
    def word(self) -> str:
        return "interrupted" if self.received == signal.SIGINT else "terminated"


# what an interrupted command leaves behind
LEFT = {"sweep": "the runs that finished are recorded; --resume runs the rest",
        "calibrate": "the trials that finished are recorded; --resume goes on from them",
        "analyze": "the previous analysis is as it was"}
NOTHING_LEFT = "no results were written; earlier results are as they were"
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def main(argv: list[str] | None = None) -> int:
    with Signals() as signals:
        parser = build_parser()
        args = parser.parse_args(argv)
        from sim import experiments, scenarios  # noqa: F401 - the modules that build pydantic models

        if signals.received:
            print(f"channelsim: {signals.word} while starting; nothing was done", file=sys.stderr)
            return signals.code
        signals.starting = False
        if not args.command:
            parser.print_help()
            return EXIT_BAD_INPUT
        say = lambda line: print(f"channelsim {args.command}: {line}", file=sys.stderr)  # noqa: E731
        try:
            return COMMANDS[args.command](args)
        except InputError as error:  # bad input, of whichever kind: its lines, exit 2, no traceback
            for line in str(error).splitlines():
                say(line)
            return EXIT_BAD_INPUT
        except OSError as error:
            if error.errno not in DISK_FULL or signals.received:
                raise
            say(f"cannot write {error.filename or ''}: {error.strerror}; {LEFT.get(args.command, NOTHING_LEFT)}")
            return 1
        except BaseException:
            if not signals.received:  # a bug: its traceback, exit code 1
                raise
            say(f"{signals.word}; {LEFT.get(args.command, NOTHING_LEFT)}")
            return signals.code


if __name__ == "__main__":
    sys.exit(main())
