"""``qcqp`` command line: ``qcqp certify …`` and ``qcqp backends``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qcqp import BACKENDS, InputError
from qcqp.app.certify import METHODS, Options
from qcqp.app.dataset import (
    array_instances,
    default_model_path,
    digits_instances,
    load_array,
    load_network,
    nominal_correct,
    run,
    vnnlib_instances,
)
from qcqp.app.report import format_table, plot_figures, summarise, write_csv, write_json


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcqp", description="Sound convex relaxations of QCQPs; "
                                     "certify neural networks against l-inf perturbations.")
    sub = parser.add_subparsers(dest="command", required=True)
    cert = sub.add_parser("certify", help="certify a network on inputs, VNNLIB specs or the digits set")
    cert.add_argument("model", nargs="?", help=".onnx or .npz (default with --dataset digits: the shipped net)")
    source = cert.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", help=".npy array of inputs (one per row)")
    source.add_argument("--spec", action="append", help="VNNLIB property (repeatable)")
    source.add_argument("--dataset", choices=["digits"], help="the bundled digits test set")
    cert.add_argument("--labels", help=".npy array of integer labels (with --inputs)")
    cert.add_argument("--eps", type=float, help="l-inf radius (default 0.05 with --dataset)")
    cert.add_argument("--method", action="append",
                      help=f"one of {', '.join(METHODS)}; repeat or comma-separate "
                           "(default: pgd,lp,sdp,exact with --dataset)")
    cert.add_argument("--out", help="results JSON (default results/<source>/results.json)")
    cert.add_argument("--limit", type=int, default=100, help="instances taken from --dataset (default 100)")
    cert.add_argument("--timeout", type=float, default=120.0, help="solver time limit per problem (s)")
    cert.add_argument("--bounds", choices=["crown", "interval", "lp"], default="crown",
                      help="pre-activation bounds used in the encodings")
    cert.add_argument("--pgd-steps", type=int, default=100)
    cert.add_argument("--pgd-restarts", type=int, default=10)
    cert.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    cert.add_argument("--jobs", type=int, default=1, help="parallel workers (dask LocalCluster)")
    cert.add_argument("--scheduler", help="address of an existing dask scheduler")
    cert.add_argument("--resume", action="store_true",
                      help="continue an interrupted run from its journal (<out>.journal.jsonl)")
    cert.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("backends", help="list the installed backends")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "backends":
            print("\n".join(BACKENDS.names()))
            return 0
        return certify(args)
    except InputError as error:
        print(f"qcqp: error: {error}", file=sys.stderr)
        return 2


def _methods(args) -> list[str]:
    given = [m.strip() for item in (args.method or []) for m in item.split(",") if m.strip()]
    methods = given or (["pgd", "lp", "sdp", "exact"] if args.dataset else [])
    if not methods:
        raise InputError("--method is required (one of " + ", ".join(METHODS) + ")")
    for m in methods:
        if m not in METHODS:
            raise InputError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
        if m != "pgd":
            BACKENDS.get(m)
    return list(dict.fromkeys(methods))


def certify(args) -> int:
    methods = _methods(args)
    if args.model is None and not args.dataset:
        raise InputError("MODEL is required unless --dataset is given")
    net = load_network(args.model or default_model_path())
    eps = args.eps if args.eps is not None else (0.05 if args.dataset else None)
    if args.spec:
        instances = vnnlib_instances(net, args.spec)
    else:
        if eps is None:
            raise InputError("--eps is required with --inputs")
        if args.dataset:
            if args.limit < 1:
                raise InputError("--limit must be at least 1")
            instances = digits_instances(net, eps, args.limit)
        else:
            if not args.labels:
                raise InputError("--labels is required with --inputs")
            instances = array_instances(net, load_array(args.inputs, "inputs"),
                                        load_array(args.labels, "labels"), eps)
    if args.timeout <= 0 or args.pgd_steps < 0 or args.pgd_restarts < 0:
        raise InputError("--timeout must be > 0 and --pgd-steps/--pgd-restarts >= 0")
    if args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    options = Options(pgd_steps=args.pgd_steps, pgd_restarts=args.pgd_restarts,
                      time_limit=args.timeout, bounds=args.bounds)
    out = Path(args.out or f"results/{args.dataset or 'run'}/results.json")
    journal = out.with_suffix(".journal.jsonl")
    if not args.resume and journal.exists():
        journal.unlink()
    config = {"model": str(args.model or "digits"), "methods": methods, "eps": eps, "specs": args.spec,
              "inputs": args.inputs, "limit": args.limit, "timeout": args.timeout, "bounds": args.bounds}
    runs = run(net, instances, methods, options, quiet=args.quiet, jobs=args.jobs, scheduler=args.scheduler,
               journal=journal, config=config)
    summary = summarise(runs, nominal_correct(net, instances))
    for method, rows in runs.items():
        path = out if len(methods) == 1 else out.with_name(f"{out.stem}.{method}{out.suffix}")
        write_json(path, {"method": method, "eps": eps, "model": str(args.model or "digits (shipped)"),
                          "instances": rows})
        write_csv(path.with_suffix(".csv"), rows)
    if len(methods) > 1:
        write_json(out, {"methods": methods, "eps": eps, "summary": summary,
                         "files": {m: f"{out.stem}.{m}{out.suffix}" for m in methods}})
    print(format_table(summary))
    if not args.no_plots and len(instances) > 1:
        for figure in plot_figures(runs, summary, out.parent, eps):
            print(f"wrote {figure}")
    journal.unlink()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
