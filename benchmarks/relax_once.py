"""Relax once per instance versus once per target, on margin certificates (every target).

For each property and method, all targets are bounded twice in the same process on one
shared encoding: by ``encoding.linear_objective(c).solve(method)`` (compile and relax for every
target, what certify did before) and by ``encoding.solve(method, c)`` (the relaxation built
once, only the objective swapped). Bounds must agree; prints a markdown table of wall times.

Usage: ``python benchmarks/relax_once.py [--model M.onnx --specs P1.vnnlib ...] [--methods lp sdp]``
(default: the VNN-COMP mnistfc 256x2 net and its first three ε = 0.03 properties from
``../shared``, else the shipped fixture).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_network
from qcqp.frontends.vnnlib import load_vnnlib

ROOT = Path(__file__).resolve().parents[1]
MNISTFC = ROOT.parent / "shared" / "data" / "mnistfc"


def defaults() -> tuple[Path, list[Path]]:
    if (MNISTFC / "mnist-net_256x2.onnx").exists():
        return MNISTFC / "mnist-net_256x2.onnx", [MNISTFC / f"prop_{k}_0.03.vnnlib" for k in range(3)]
    fixtures = ROOT / "tests" / "fixtures"
    return fixtures / "digits_vnncomp.onnx", [fixtures / "prop_0_0.05.vnnlib"]


def main() -> None:
    model, specs = defaults()
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=model)
    parser.add_argument("--specs", type=Path, nargs="*", default=specs)
    parser.add_argument("--methods", nargs="*", default=["lp", "sdp"])
    args = parser.parse_args()
    net = load_network(args.model)
    print(f"machine: {platform.machine()}, python {platform.python_version()}; model {args.model.name}")
    print("| property | method | targets | relax per target s | relax once s | saved | max bound diff |")
    print("|---|---|---|---|---|---|---|")
    for spec_path in args.specs:
        spec = load_vnnlib(spec_path, net.input_size, net.output_size).only_part()
        for method in args.methods:
            atoms = spec.atoms
            shared = encode_network(net, spec.box)  # both sides share the encoding (CROWN bounds, IR)
            start = time.perf_counter()
            naive = [shared.linear_objective(a, b).solve(method).bound for a, b in atoms]
            middle = time.perf_counter()
            once = [shared.solve(method, a, b).bound for a, b in atoms]
            end = time.perf_counter()
            diff = max(abs(x - y) for x, y in zip(naive, once))
            before, after = middle - start, end - middle
            print(f"| {spec_path.name} | {method} | {len(atoms)} | {before:.2f} | {after:.2f} | "
                  f"{100 * (1 - after / before):.0f} % | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
