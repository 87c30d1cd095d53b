"""One margin SDP on the shipped digits net with each activation swapped in, per SDP solver.

The weights stay those of the shipped 64-16-16-10 net; only the hidden activation changes,
so the rows differ only in how the activation is encoded: ReLU by complementarity
(``z ⊙ (z − Wx − b) = 0``, which couples ``z`` with ``x`` only) and sigmoid/tanh by sector
rows ``(z − σ(c) − α(ŷ − c)) ⊙ (z − σ(c) − β(ŷ − c)) <= 0``, whose ``ŷ ŷᵀ = W x xᵀ Wᵀ`` term
couples every pair of inputs. Prints the lifted size, the rows, the nonzeros of the dual
matrix's pattern and the time and bound per solver.

Usage: ``python benchmarks/smooth_activations.py [--activations relu sigmoid tanh] [--solvers clarabel sdpa]``
"""

from __future__ import annotations

import argparse
import platform
import time

from qcqp.app.dataset import default_model_path, digits_instances
from qcqp.backends.sdp_solvers.auto import pattern_density
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_npz
from qcqp.frontends.network import Network


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--activations", nargs="*", default=["relu", "sigmoid", "tanh"])
    parser.add_argument("--solvers", nargs="*", default=["clarabel", "sdpa"])
    parser.add_argument("--eps", type=float, default=0.05)
    args = parser.parse_args()
    base = load_npz(default_model_path())
    print(f"machine: {platform.machine()}, python {platform.python_version()}; digits net, ε {args.eps}")
    print("| activation | N | rows | pattern density | " + " | ".join(f"{s} s (bound)" for s in args.solvers) + " |")
    print("|---|---|---|---|" + "---|" * len(args.solvers))
    for activation in args.activations:
        net = Network(base.weights, base.biases, (activation,) * len(base.activations))
        spec = digits_instances(net, args.eps, 1)[0]
        a, b = spec.disjuncts[0][0]
        encoding = encode_network(net, spec.box)
        relaxation = encoding.relaxation("sdp").with_objective(encoding.objective(a, b))
        form = relaxation.form
        cells = []
        for solver in args.solvers:
            start = time.perf_counter()
            result = relaxation.solve(solver=solver)
            cells.append(f"{time.perf_counter() - start:.2f} ({result.bound:.6f})")
        rows = form.E.shape[0] + form.G.shape[0] + 1
        print(f"| {activation} | {form.dim} | {rows} | {pattern_density(form):.2f} | " + " | ".join(cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()
