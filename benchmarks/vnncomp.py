"""A VNN-COMP benchmark scored against the published results, instance by instance.

Runs ``qcqp vnncomp`` on a benchmark folder of ``stanleybak/vnncomp2021`` with each
instance's own timeout (or reads a finished run with ``--table-only``) and prints, per
property file, what we decided and in what time beside each published tool, and every
instance where a tool contradicts us::

    python benchmarks/vnncomp.py vnncomp2021/benchmarks/acasxu vnncomp2021_results/results_csv \\
        --tools nnenum a-b-CROWN Marabou ERAN --jobs 2 --out results/acasxu

``--per-network 2 --cap 60`` runs a subset instead: the first two instances of each network,
each timeout capped at 60 s (the CSV is written into the benchmark folder).
"""

from __future__ import annotations

import argparse
import csv
import platform
import re
from collections import defaultdict
from pathlib import Path

from qcqp.app.cli import main as qcqp_main

DECIDED = ("holds", "violated")


def subset(benchmark: Path, per_network: int, cap: float) -> Path:
    """An instances CSV of the first ``per_network`` rows of each network, timeouts capped at
    ``cap`` seconds, written beside the benchmark's own (its paths are relative to the folder)."""
    source = next(benchmark.glob("*instances.csv"))
    counts: dict[str, int] = defaultdict(int)
    lines = []
    for row in csv.reader(source.read_text().splitlines()):
        if row and counts[row[0]] < per_network:
            counts[row[0]] += 1
            lines.append(f"{row[0]},{row[1]},{min(cap, float(row[2])):g}")
    path = benchmark / f"subset_{per_network}_{cap:g}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args) -> None:
    command = ["vnncomp", args.benchmark, "--out", args.out, "--jobs", str(args.jobs), "--quiet"]
    if args.per_network:
        command += ["--instances", str(subset(Path(args.benchmark), args.per_network, args.cap))]
    for tool in args.tools:
        command += ["--compare", str(Path(args.results) / f"{tool}.csv")]
    if args.limit:
        command += ["--limit", str(args.limit)]
    qcqp_main(command)


def table(out: Path, tools: list[str]) -> list[str]:
    rows = list(csv.DictReader((out / "comparison.csv").read_text().splitlines()))
    groups = defaultdict(list)
    for row in rows:
        groups[re.sub(r"\.vnnlib(\.gz)?$", "", row["vnnlib"])].append(row)
    header = "| property | n | ours decided | ours s (max) | ours peak MB | "
    header += " | ".join(f"{t} decided | {t} s" for t in tools) + " |"
    lines = [header, "|" + "---|" * (5 + 2 * len(tools))]
    for name, group in [*sorted(groups.items()), ("**all**", rows)]:
        ours = [float(r["time_s"]) for r in group]
        cells = [name, str(len(group)), str(sum(r["ours"] in DECIDED for r in group)),
                 f"{sum(ours):.1f} ({max(ours):.1f})",
                 max((r.get("peak_mb") or "" for r in group), key=lambda v: float(v or 0))]
        for tool in tools:
            theirs = [r for r in group if r[tool]]
            seconds = sum(float(r[f"{tool}_time_s"]) for r in theirs if r[f"{tool}_time_s"])
            cells += [str(sum(r[tool] in DECIDED for r in theirs)), f"{seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    clashes = [r for r in rows if r["contradiction"] == "True"]
    lines.append(f"\ncontradictions: {len(clashes)}")
    lines += [f"  {r['onnx']} {r['vnnlib']}: ours {r['ours']}, " + ", ".join(f"{t} {r[t]}" for t in tools)
              for r in clashes]
    undecided = [f"{r['onnx']} {r['vnnlib']} ({r['ours']})" for r in rows if r["ours"] not in DECIDED]
    lines.append(f"undecided: {len(undecided)}" + "".join(f"\n  {u}" for u in undecided))
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", help="a benchmark folder (holding *instances.csv)")
    parser.add_argument("results", help="vnncomp2021_results/results_csv")
    parser.add_argument("--tools", nargs="+", default=["nnenum", "a-b-CROWN", "Marabou", "ERAN"])
    parser.add_argument("--out", default="results/vnncomp")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--per-network", type=int, help="only the first N instances of each network ...")
    parser.add_argument("--cap", type=float, default=60.0, help="... each with its timeout capped at this many seconds")
    parser.add_argument("--table-only", action="store_true", help="print the table of a finished run in --out")
    args = parser.parse_args()
    if not args.table_only:
        run(args)
    print(f"machine: {platform.machine()}, {platform.python_version()}")
    print("\n".join(table(Path(args.out), args.tools)))
