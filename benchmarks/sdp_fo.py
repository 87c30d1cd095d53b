"""SDP-FO against the interior-point Shor optimum: how fast the rigorous bound gets there.

Problems (``--problems``): digits MLPs (``net:64-32-32-10``), the digits autoencoder's
reconstruction error (``vae:0``, test point 0, latent ε 0.1), the hardest target of a
VNN-COMP mnistfc property (``mnistfc:256x2:prop_0_0.03``) and, for scale only, a random
``random:784-1024-1024-10@0.01`` net and a spin-glass MaxCut on a 100 × 100 torus
(``maxcut:torus-100``, N = 10,001). For each: the Shor optimum by the interior point
(``sdp``, solver ``ipm``, skipped with ``--no-shor`` or past ``--shor-timeout``), then
``sdp-fo`` with ``method=low-rank`` and ``method=adam`` (``--time-limit`` each), every run
in a fresh process (peak memory is its own). Prints one table row per problem — the time
at which the rigorous bound first came within 0.01 and within 1 % of the Shor value — and
writes every trace to ``--out`` (JSON) and the convergence plot ``--plot``.

Usage: ``python benchmarks/sdp_fo.py [--problems …] [--scale] [--time-limit 60] [--out sdp_fo.json]
[--plot docs/figures/sdp_fo_convergence.png] [--from-json sdp_fo.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
from child import run_in_child
from sdp_solvers import build as build_solver_problem
from sdp_solvers import margin_problem

UNDECIDED = ["prop_0_0.03", "prop_1_0.03", "prop_3_0.03", "prop_5_0.03", "prop_9_0.03", "prop_13_0.03",
             "prop_0_0.05", "prop_6_0.05"]  # neither lp nor the Adam sdp-fo decided these (20 s table)
DEFAULT = ["net:64-32-32-10", "net:64-50-50-50-10", "vae:0"] + [f"mnistfc:256x2:{p}" for p in UNDECIDED]
SCALE = ["mnistfc:256x4:prop_0_0.03", "mnistfc:256x6:prop_0_0.03", "random:784-1024-1024-10@0.01",
         "maxcut:torus-100"]


def build(problem: str):
    """A ``qcqp.Problem`` from the names above (``net:``/``mnistfc:``/``maxcut:``/``boxqp:`` as in sdp_solvers.py)."""
    kind, _, spec = problem.partition(":")
    if kind == "random":
        from qcqp.frontends.network import Network
        from qcqp.frontends.specs import linf_ball

        sizes, _, eps = spec.partition("@")
        sizes = [int(s) for s in sizes.split("-")]
        rng = np.random.default_rng(0)
        Ws = tuple(rng.normal(0, np.sqrt(2.0 / a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:]))
        bs = tuple(rng.normal(0, 0.1, b) for b in sizes[1:])
        net = Network(Ws, bs, ("relu",) * (len(sizes) - 2))
        return margin_problem(net, linf_ball(rng.random(sizes[0]), float(eps)), np.eye(sizes[-1])[0]
                              - np.eye(sizes[-1])[1], 0.0)
    if kind == "vae":
        from qcqp.frontends.models.train_digits import digits_split
        from qcqp.frontends.vae import latent_ball, load_autoencoder, reconstruction_problem

        ae = load_autoencoder()
        x = digits_split()[2][int(spec)]
        return reconstruction_problem(ae.decoder, latent_ball(ae.encoder.forward(x), 0.1)).problem
    return build_solver_problem(problem)


def measure(problem: str, backend: str, options: dict, queue) -> None:
    p = build(problem)
    start = time.perf_counter()
    result = p.solve(backend, **options)
    queue.put({"bound": result.bound, "seconds": time.perf_counter() - start, "n": p.compile().n,
               "primal": result.solver_value,
               "trace": result.stats.get("trace", []),
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run(problem: str, backend: str, options: dict, timeout: float) -> dict | None:
    messages, finished = run_in_child(measure, (problem, backend, options), timeout)
    return messages[0] if finished and messages else None


def time_within(trace: list, target: float, gap: float) -> float | None:
    """The first second at which a bound in ``trace`` is within ``gap`` of ``target``."""
    return next((seconds for seconds, bound in trace if abs(bound - target) <= gap), None)


def cell(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.1f}"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("shor") is not None][:4]
    if not shown:
        return
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, r in zip(axes[0], shown):
        for method, style in (("low-rank", "-"), ("adam", "--")):
            trace = r.get(method, {}) or {}
            gaps = np.minimum.accumulate([abs(b - r["shor"]["bound"]) for _, b in trace.get("trace", [])])
            points = [(s, max(gap, 1e-7)) for (s, _), gap in zip(trace.get("trace", []), gaps)]  # best so far
            if points:
                ax.step(*zip(*points), style, where="post", label=f"sdp-fo {method}")
        ax.axvline(r["shor"]["seconds"], color="grey", lw=0.8, label="interior point done")
        ax.axhline(0.01, color="grey", lw=0.5, ls=":")
        ax.set(yscale="log", xlabel="seconds", ylabel="|rigorous bound − Shor|", title=r["problem"])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", nargs="+", default=DEFAULT)
    parser.add_argument("--scale", action="store_true", help=f"add {', '.join(SCALE)} (no interior point)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--shor-timeout", type=float, default=300.0)
    parser.add_argument("--no-shor", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("sdp_fo.json"))
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--from-json", type=Path, default=None, help="re-print and re-plot a saved --out file")
    args = parser.parse_args()
    problems = args.problems + (SCALE if args.scale else [])
    print(f"machine: {platform.machine()}, python {platform.python_version()}; sdp-fo time limit "
          f"{args.time_limit:.0f} s; Shor by ipm (timeout {args.shor_timeout:.0f} s)")
    print("| problem | N | Shor (ipm) | ipm s | low-rank bound | its gap | s to 0.01 | s to 1 % | low-rank s "
          "| low-rank primal | adam bound | adam s | peak MB (low-rank) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    saved = json.loads(args.from_json.read_text()) if args.from_json else None
    rows = []
    for problem in [row["problem"] for row in saved] if saved else problems:
        if saved:
            row = next(r for r in saved if r["problem"] == problem)
        else:
            shor_only = problem in SCALE or args.no_shor
            row = {"problem": problem, "shor": None if shor_only else
                   run(problem, "sdp", {"solver": "ipm"}, args.shor_timeout)}
            budget = args.time_limit * 3 + 120
            row["low-rank"] = run(problem, "sdp-fo", {"method": "low-rank", "time_limit": args.time_limit}, budget)
            row["adam"] = run(problem, "sdp-fo", {"method": "adam", "time_limit": args.time_limit}, budget)
        rows.append(row)
        fo, adam, shor = row["low-rank"] or {}, row["adam"] or {}, row["shor"]
        target = shor["bound"] if shor else None
        gap = f"{abs(fo['bound'] - target):.1e}" if shor and fo else "–"
        near = time_within(fo.get("trace", []), target, 0.01) if shor else None
        close = time_within(fo.get("trace", []), target, 0.01 * abs(target)) if shor else None
        print(f"| {problem} | {fo.get('n', '?')} | {f'{target:+.6f}' if shor else '–'} | "
              f"{cell(shor['seconds']) if shor else '–'} | {fo.get('bound', float('nan')):+.6f} | {gap} | "
              f"{cell(near)} | {cell(close)} | {cell(fo.get('seconds'))} | {fo.get('primal', float('nan')):+.6f} | "
              f"{adam.get('bound', float('nan')):+.6f} | "
              f"{cell(adam.get('seconds'))} | {fo.get('peak_mb', float('nan')):.0f} |", flush=True)
        if not saved:
            args.out.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
