"""Dataset summaries: the table, JSON/CSV files and the paper's two figures."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from qcqp.app.certify import ATTACK


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, so an interrupted run never leaves a file that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=False))
    os.replace(tmp, path)


def write_csv(path: Path, rows: list[dict]) -> None:
    """One line per instance; ``target_bounds`` (``--all-targets``) as ``;``-separated disjuncts of
    ``,``-separated atom bounds (empty where the method did not solve that atom)."""
    fields = ["index", "label", "status", "margin_bound", "pgd_margin", "time_s", "reason", "target_bounds"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            targets = row.get("target_bounds")
            if targets is not None:
                row = row | {"target_bounds": ";".join(",".join("" if b is None else repr(b) for b in atoms)
                                                       for atoms in targets)}
            writer.writerow(row)


def summarise(runs: dict[str, list[dict]], nominal: np.ndarray | None) -> list[dict]:
    """One summary row per method: nominal, PGD and certified accuracy, mean time."""
    out = []
    for method, rows in runs.items():
        n = len(rows)
        falsified = sum(r["status"] == "falsified" for r in rows)
        certified = sum(r["status"] == "certified" for r in rows)
        out.append({
            "method": method, "instances": n,
            "nominal_accuracy": None if nominal is None else float(np.mean(nominal)),
            "pgd_accuracy": (n - falsified) / n if n else 0.0,
            "certified_accuracy": certified / n if n else 0.0,
            "mean_time_s": float(np.mean([r["time_s"] for r in rows])) if n else 0.0,
        })
    return out


def format_table(summary: list[dict]) -> str:
    """The summary as text; the attack row's certificates come from CROWN and are labelled so."""
    header = f"{'method':<10} {'n':>4} {'nominal':>8} {'PGD':>8} {'certified':>10} {'time/inst':>10}"
    lines = [header, "-" * len(header)]
    for s in summary:
        nominal = "-" if s["nominal_accuracy"] is None else f"{s['nominal_accuracy']:.3f}"
        name = "pgd+crown" if s["method"] == ATTACK else s["method"]
        lines.append(f"{name:<10} {s['instances']:>4} {nominal:>8} {s['pgd_accuracy']:>8.3f} "
                     f"{s['certified_accuracy']:>10.3f} {s['mean_time_s']:>9.2f}s")
    if any(s["method"] == ATTACK for s in summary):
        lines.append("(pgd+crown: PGD attacks; its 'certified' column is CROWN bound propagation)")
    return "\n".join(lines)


def zero_aligned_bins(values: np.ndarray, count: int) -> np.ndarray:
    """About ``count`` equal bins covering ``values`` with an edge exactly at 0, so no bar mixes
    falsified (margin <= 0) and robust points."""
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    width = max((hi - lo) / count, 1e-9)
    first, last = np.floor(lo / width), np.ceil(hi / width)
    return np.arange(first, max(last, first + 1) + 1) * width


def plot_figures(runs: dict[str, list[dict]], summary: list[dict], out_dir: Path, eps: float | None) -> list[Path]:
    """Figure 1: histogram of PGD margins, certified vs not (strongest certifier).
    Figure 2: bars of nominal / PGD / certified accuracy per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    certifiers = [m for m in runs if m != ATTACK] or list(runs)
    # the method certifying the most; among ties the last one run (the default order ends with exact)
    best = max(reversed(certifiers), key=lambda m: sum(r["status"] == "certified" for r in runs[m]))
    rows = [r for r in runs[best] if r["pgd_margin"] is not None]
    margins = np.array([r["pgd_margin"] for r in rows])
    certified = np.array([r["status"] == "certified" for r in rows])
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = zero_aligned_bins(margins, 24)
    ax.hist([margins[certified], margins[~certified]], bins=bins, stacked=True,
            label=[f"certified ({best})", "not certified"], color=["tab:green", "tab:gray"])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("PGD margin (logit[y] − max other)")
    ax.set_ylabel("instances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Figure 1: PGD margins" + (f", ε = {eps}" if eps is not None else ""))
    ax.legend()
    fig.tight_layout()
    first = out_dir / "figure1_pgd_margins.png"
    fig.savefig(first, dpi=120)
    plt.close(fig)

    labels = ["nominal", "PGD"] + [s["method"] for s in summary if s["method"] != ATTACK]
    values = [summary[0]["nominal_accuracy"] or 0.0, summary[0]["pgd_accuracy"]]
    values += [s["certified_accuracy"] for s in summary if s["method"] != ATTACK]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, values, color=["tab:blue", "tab:orange"] + ["tab:green"] * (len(labels) - 2))
    for i, v in enumerate(values):
        ax.text(i, v + 0.01, f"{v:.2f}", ha="center")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy")
    ax.set_title("Figure 2: nominal, PGD and certified accuracy")
    fig.tight_layout()
    second = out_dir / "figure2_accuracy.png"
    fig.savefig(second, dpi=120)
    plt.close(fig)
    return [first, second]
