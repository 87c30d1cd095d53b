"""``qcqp`` command line: ``qcqp certify …``, ``qcqp solve …``, ``qcqp train …``, ``qcqp vnncomp …`` and
``qcqp backends``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qcqp import BACKENDS, InputError
from qcqp.app.certify import ATTACK, COMPLETE, Options
from qcqp.app.dataset import (
    INPUT_BALLS,
    array_instances,
    default_model_path,
    digits_instances,
    load_array,
    load_network,
    model_path,
    nominal_correct,
    run,
    shipped_models,
    vnnlib_instances,
)
from qcqp.app.report import format_table, plot_figures, summarise, write_csv, write_json
from qcqp.app.solve import run_solve
from qcqp.app.train import PENALTIES, run_train
from qcqp.app.vnncomp import run_benchmark
from qcqp.backends.sdp_solvers import SDP_SOLVERS
from qcqp.frontends.encode import BOUND_METHODS
from qcqp.frontends.problem_files import PROBLEM_FORMATS
from qcqp.registry import backends_taking


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcqp", description="Sound convex relaxations of QCQPs; "
                                     "certify neural networks against l-inf and l2 perturbations.")
    sub = parser.add_subparsers(dest="command", required=True)
    cert = sub.add_parser("certify", help="certify a network on inputs, VNNLIB specs or the digits set")
    cert.add_argument("model", nargs="?", help=".onnx or .npz, or a shipped model by name: "
                      f"{', '.join(shipped_models())} (default with --dataset digits: digits_relu.npz)")
    source = cert.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", help=".npy array of inputs (one per row)")
    source.add_argument("--spec", action="append", help="VNNLIB property (repeatable)")
    source.add_argument("--dataset", choices=["digits"], help="the bundled digits test set")
    cert.add_argument("--labels", help=".npy array of integer labels (with --inputs)")
    cert.add_argument("--eps", type=float, help="input ball radius (default 0.05 with --dataset)")
    cert.add_argument("--norm", choices=list(INPUT_BALLS), default="inf",
                      help="input ball: inf (a box, default) or 2 (a quadratic constraint); VNNLIB gives a box")
    cert.add_argument("--method", action="append",
                      help=f"one of {', '.join(methods())}; repeat or comma-separate "
                           "(default: pgd,lp,sdp,exact with --dataset)")
    cert.add_argument("--solver", help="SDP solver for --method sdp (default auto; see `qcqp backends`)")
    cert.add_argument("--all-targets", action="store_true",
                      help="solve every target with every method (per-target bounds; for comparisons)")
    cert.add_argument("--out", help="results JSON (default results/<source>/results.json)")
    cert.add_argument("--limit", type=int, default=100, help="instances taken from --dataset (default 100)")
    cert.add_argument("--timeout", type=float, default=120.0,
                      help="solver time limit per problem; the complete method's budget per specification "
                           "(s, default 120)")
    cert.add_argument("--bounds", choices=list(BOUND_METHODS), default="crown",
                      help="pre-activation bounds used in the encodings (default crown)")
    cert.add_argument("--pgd-steps", type=int, default=100, help="PGD steps per restart (default 100)")
    cert.add_argument("--pgd-restarts", type=int, default=10, help="PGD random restarts (default 10)")
    cert.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    cert.add_argument("--jobs", type=int, default=1, help="parallel workers (dask LocalCluster)")
    cert.add_argument("--scheduler", help="address of an existing dask scheduler")
    cert.add_argument("--resume", action="store_true",
                      help="continue an interrupted run from its journal (<out>.journal.jsonl)")
    cert.add_argument("--quiet", action="store_true", help="no progress bar")
    solve = sub.add_parser("solve", help="bound, best feasible point and gap for a problem file")
    solve.add_argument("file", help=f"problem file ({', '.join(PROBLEM_FORMATS)}: BoxQP, QPLIB)")
    solve.add_argument("--backend", default="sdp", help=f"one of {', '.join(BACKENDS.names())} (default sdp)")
    solve.add_argument("--solver", help="SDP solver for --backend sdp (default auto; see `qcqp backends`)")
    solve.add_argument("--relaxation", help="the relaxation family of sdp / lp: shor (sdp only), auto (default), "
                       "rlt, triangle, rlt+triangle (cuts by separation; see docs/qcqp.md)")
    solve.add_argument("--global", dest="global_", action="store_true",
                       help="the global optimum by branch and bound, --backend bounding every node")
    solve.add_argument("--time-limit", type=float,
                       help="seconds for the backend where it takes a limit (with --global: the search, default 60)")
    solve.add_argument("--quiet", action="store_true", help="no progress bar")
    solve.add_argument("--out", help="write the result (bound, value, gap, point, time) as JSON here")
    fit = sub.add_parser("train", help="train a one-hidden-layer ReLU net, optionally with the MAXGRAD "
                         "certified-training penalty (RSL18a)")
    fit.add_argument("--out", required=True, help="the trained model (.npz, the format qcqp certify reads)")
    fit.add_argument("--penalty", default="maxgrad", choices=list(PENALTIES),
                     help="none (plain cross-entropy), pgd (adversarial training) or maxgrad (default)")
    fit.add_argument("--eps", type=float, default=0.1, help="l-inf radius to train against (default 0.1)")
    fit.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    fit.add_argument("--steps", type=int, default=2000, help="full-batch Adam steps (default 2000)")
    fit.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    fit.add_argument("--kappa", type=float, default=0.5, help="weight of the clean loss (default 0.5)")
    fit.add_argument("--ramp", type=float, default=0.5, help="fraction of steps over which eps grows (default 0.5)")
    fit.add_argument("--pgd-steps", type=int, default=10, help="attack steps per training step (pgd; default 10)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--inputs", help=".npy training inputs in [0, 1] (default: the digits training split)")
    fit.add_argument("--labels", help=".npy integer training labels (with --inputs)")
    fit.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints (default 200)")
    fit.add_argument("--resume", action="store_true", help="continue from <out>.checkpoint.npz")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    comp = sub.add_parser("vnncomp", help="run a VNN-COMP benchmark folder (its instances.csv) or one instance")
    comp.add_argument("benchmark", nargs="?", help="benchmark folder holding *instances.csv, networks and properties")
    comp.add_argument("--instances", help="the instances CSV (default: the folder's *instances.csv)")
    comp.add_argument("--name", help="benchmark name in the results CSV (default: the folder's name)")
    comp.add_argument("--out", help="output folder (default results/vnncomp/<benchmark>)")
    comp.add_argument("--compare", action="append", help="a published results CSV (repeatable), e.g. "
                      "vnncomp2021_results/results_csv/nnenum.csv")
    comp.add_argument("--limit", type=int, help="only the first N instances")
    comp.add_argument("--jobs", type=int, default=1, help="parallel workers (dask LocalCluster)")
    comp.add_argument("--scheduler", help="address of an existing dask scheduler")
    comp.add_argument("--onnx", help="one instance: the network (with --vnnlib, --result-file, --timeout)")
    comp.add_argument("--vnnlib", help="one instance: the property")
    comp.add_argument("--result-file", help="one instance: where the result word (and counterexample) go")
    comp.add_argument("--timeout", type=float, help="one instance: its wall-clock limit (s)")
    comp.add_argument("--quiet", action="store_true", help="no line per instance")
    sub.add_parser("backends", help="list the backends and SDP solvers, and whether each is available")
    return parser


def methods() -> list[str]:
    """The attack, the complete decision procedure and every registered backend (built-ins and plug-ins)."""
    return [ATTACK, COMPLETE] + BACKENDS.names()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "backends":
            print(describe_backends())
            return 0
        if args.command == "solve":
            return run_solve(args)
        if args.command == "train":
            return run_train(args)
        if args.command == "vnncomp":
            return run_benchmark(args)
        return certify(args)
    except InputError as error:
        print(f"qcqp: error: {error}", file=sys.stderr)
        return 2


def describe_backends() -> str:
    """One line per backend (with its options) and per SDP solver (with its availability)."""
    lines = ["backends:"]
    for name in BACKENDS.names():
        backend = BACKENDS.get(name)
        options = ", ".join(backend.option_names()) + (", solver settings" if backend.takes_settings() else "")
        lines.append(f"  {name:<10} options: {options or '(none)'}")
    lines.append("SDP solvers (qcqp certify --solver, Problem.solve(backend='sdp', solver=...)):")
    for name in SDP_SOLVERS.names():
        adapter = SDP_SOLVERS.get(name)
        state = "available" if adapter.available() else f"not installed (pip install 'qcqp-relax[{adapter.extra}]')"
        lines.append(f"  {name:<10} {state}")
    return "\n".join(lines)


def _methods(args) -> list[str]:
    given = [m.strip() for item in (args.method or []) for m in item.split(",") if m.strip()]
    chosen = given or (["pgd", "lp", "sdp", "exact"] if args.dataset else [])
    valid = methods()
    if not chosen:
        raise InputError("--method is required (one of " + ", ".join(valid) + ")")
    for m in chosen:
        if m not in valid:
            raise InputError(f"unknown method {m!r}; choose from {', '.join(valid)}")
    if args.solver is not None:
        if not set(chosen) & set(backends_taking("solver")):
            raise InputError(f"--solver applies to --method {' or '.join(backends_taking('solver'))} only")
        SDP_SOLVERS.get(args.solver)
    return list(dict.fromkeys(chosen))


def _output(args) -> Path:
    """The results path; its folder is created, and an unwritable one is a one-line error."""
    out = Path(args.out or f"results/{args.dataset or 'run'}/results.json")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise InputError(f"--out {out}: cannot write there ({error.strerror or error})") from None
    return out


def certify(args) -> int:
    if args.model is None and not args.dataset:
        raise InputError("MODEL is required unless --dataset is given")
    net = load_network(model_path(args.model) if args.model else default_model_path())
    eps = args.eps if args.eps is not None else (0.05 if args.dataset else None)
    if args.spec:
        if args.norm != "inf":
            raise InputError("--norm applies to --inputs and --dataset; a VNNLIB property gives its own box")
        instances = vnnlib_instances(net, args.spec)
    else:
        if eps is None:
            raise InputError("--eps is required with --inputs")
        if args.dataset:
            if args.limit < 1:
                raise InputError("--limit must be at least 1")
            instances = digits_instances(net, eps, args.limit, args.norm)
        else:
            if not args.labels:
                raise InputError("--labels is required with --inputs")
            instances = array_instances(net, load_array(args.inputs, "inputs"),
                                        load_array(args.labels, "labels"), eps, args.norm)
    if args.timeout <= 0 or args.pgd_steps < 0 or args.pgd_restarts < 0:
        raise InputError("--timeout must be > 0 and --pgd-steps/--pgd-restarts >= 0")
    if args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    methods = _methods(args)
    backend_options = {m: {"solver": args.solver} for m in methods if args.solver and m in backends_taking("solver")}
    options = Options(pgd_steps=args.pgd_steps, pgd_restarts=args.pgd_restarts, time_limit=args.timeout,
                      bounds=args.bounds, all_targets=args.all_targets, backend_options=backend_options)
    out = _output(args)
    journal = out.with_suffix(".journal.jsonl")
    if not args.resume and journal.exists():
        journal.unlink()
    config = {"model": str(args.model or "digits"), "methods": methods, "eps": eps, "norm": args.norm,
              "specs": args.spec,
              "inputs": args.inputs, "limit": args.limit, "timeout": args.timeout, "bounds": args.bounds,
              "all_targets": args.all_targets, "solver": args.solver}
    runs = run(net, instances, methods, options, quiet=args.quiet, jobs=args.jobs, scheduler=args.scheduler,
               journal=journal, config=config)
    summary = summarise(runs, nominal_correct(net, instances))
    written = []
    for method, rows in runs.items():
        path = out if len(methods) == 1 else out.with_name(f"{out.stem}.{method}{out.suffix}")
        write_json(path, {"method": method, "eps": eps, "norm": args.norm,
                          "model": str(args.model or "digits (shipped)"), "instances": rows})
        write_csv(path.with_suffix(".csv"), rows)
        written += [path, path.with_suffix(".csv")] if len(methods) > 1 else [path.with_suffix(".csv")]
    if len(methods) > 1:
        write_json(out, {"methods": methods, "eps": eps, "norm": args.norm, "summary": summary,
                         "files": {m: f"{out.stem}.{m}{out.suffix}" for m in methods}})
    print(format_table(summary))
    if not args.no_plots and len(instances) > 1:
        for figure in plot_figures(runs, summary, out.parent, eps):
            print(f"wrote {figure}")
    journal.unlink()
    for path in written + [out]:
        print(f"wrote {path}")
    failed = [row for rows in runs.values() for row in rows if row["status"] == "error"]
    for row in failed:
        print(f"qcqp: error: instance {row['index']}: {row['reason']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
