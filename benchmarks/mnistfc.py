"""VNN-COMP 2021 mnistfc (784-256x{2,4,6}-10) with every method; fails on any contradiction.

For each property and method: status, margin bound, time. Counterexamples from PGD or
the MILP are re-checked in the original ONNX model through onnxruntime and saved as
``.npy``. A property certified by one method and falsified by another is a soundness
bug: the script then exits with status 1.

Usage::

    python benchmarks/mnistfc.py [--data ../shared/data/mnistfc] [--networks 256x2 256x4]
        [--props 0 1 2] [--eps 0.03 0.05] [--methods pgd lp sdp-fo exact complete] [--timeout 20] [--out DIR]

Without ``--timeout`` every instance gets its competition time limit (``mnistfc_instances.csv``:
120 s on 256x2, 300 s on 256x4 / 256x6) — per solver call, and per property for ``complete``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from qcqp.app.certify import Options, analyse
from qcqp.app.dataset import vnnlib_instances
from qcqp.frontends.loaders import load_onnx


def onnx_check(model: Path, x: np.ndarray, label: int) -> bool:
    """Does onnxruntime (float32) agree that ``x`` is misclassified (some logit >= label's)?"""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model))
    name = session.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
    logits = session.run(None, {name: x.astype(np.float32).reshape(shape)})[0].ravel()
    return bool(np.max(np.delete(logits, label)) >= logits[label])


def run_property(net, model: Path, inst, methods: list[str], options: Options, prefix: Path) -> dict[str, dict]:
    """Each method's row (timed alone); counterexamples re-checked by onnxruntime and saved."""
    rows = {}
    for method in methods:
        start = time.perf_counter()
        rows[method] = analyse(net, inst, [method], options)[method]
        rows[method]["time_s"] = time.perf_counter() - start
        if rows[method]["status"] == "falsified":
            x = np.array(rows[method]["counterexample"])
            rows[method]["onnx_confirms"] = onnx_check(model, x, inst.label)
            np.save(f"{prefix}_{method}.npy", x)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnistfc"))
    parser.add_argument("--networks", nargs="+", default=["256x2"], help="of 256x2, 256x4, 256x6")
    parser.add_argument("--props", type=int, nargs="+", default=list(range(15)))
    parser.add_argument("--eps", nargs="+", default=["0.03", "0.05"])
    parser.add_argument("--methods", nargs="+", default=["pgd", "lp", "sdp-fo", "exact"])
    parser.add_argument("--timeout", type=float, help="seconds per solver call (default: the competition's limit)")
    parser.add_argument("--out", default="results/mnistfc")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    limits = {(row[0], row[1]): float(row[2]) for row in
              (line.split(",") for line in (data / "mnistfc_instances.csv").read_text().split())}
    timeout = "the competition's limit" if args.timeout is None else f"{args.timeout:g} s"
    print(f"machine: {platform.machine()}, {platform.python_version()}; timeout {timeout} per solve "
          "(per property for complete)")
    print("| network | property | " + " | ".join(args.methods) + " |")
    print("|---|---|" + "---|" * len(args.methods))
    contradictions, records = 0, []
    for network in args.networks:
        model = data / f"mnist-net_{network}.onnx"
        net = load_onnx(model)
        for eps in args.eps:
            for i in args.props:
                spec = data / f"prop_{i}_{eps}.vnnlib"
                limit = args.timeout or limits[model.name, spec.name]
                options = Options(time_limit=limit, backend_options={})
                inst = vnnlib_instances(net, [str(spec)])[0]
                rows = run_property(net, model, inst, args.methods, options, out / f"cex_{network}_{i}_{eps}")
                contradictions += {"certified", "falsified"} <= {r["status"] for r in rows.values()}
                cells = [f"{r['status']} {r['margin_bound']:+.3g} ({r['time_s']:.1f}s)" for r in rows.values()]
                print(f"| {network} | {spec.name} | " + " | ".join(cells) + " |", flush=True)
                records.append({"network": network, "property": spec.name,
                                "rows": {m: {k: v for k, v in r.items() if k != "counterexample"}
                                         for m, r in rows.items()}})
    (out / "mnistfc.json").write_text(json.dumps(records, indent=1))
    totals = {m: sum(rec["rows"][m]["status"] == "certified" for rec in records) for m in args.methods}
    falsified = {m: sum(rec["rows"][m]["status"] == "falsified" for rec in records) for m in args.methods}
    print(f"certified: {totals}; falsified: {falsified}; contradictions: {contradictions}")
    return 1 if contradictions else 0


if __name__ == "__main__":
    sys.exit(main())
