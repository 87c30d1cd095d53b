"""VNN-COMP runner: a benchmark's ``instances.csv`` in; the competition's result words,
counterexample files and results CSV out; a comparison with a published results CSV.

Every instance runs the complete method with its own timeout as a wall for the whole
property. Result words: ``holds`` (certified), ``violated`` (a counterexample, re-checked
against the property's formula), ``timeout`` (undecided at the time limit), ``unknown``
(undecided earlier), ``error`` (an internal failure).
"""

from __future__ import annotations

import csv
import resource
import time
from collections import Counter
from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.app.certify import COMPLETE, Options, analyse
from qcqp.frontends.loaders import load_network
from qcqp.frontends.vnnlib import load_vnnlib

WORDS = {"certified": "holds", "falsified": "violated"}
PUBLISHED_WORDS = {"sat": "violated", "unsat": "holds"}  # some tools wrote SMT words
FINISHING = 1.0  # seconds of the timeout kept back: a phase's last step overruns its deadline by up to this much


def instances(benchmark: Path, csv_path: Path | None = None) -> list[tuple[Path, Path, float]]:
    """``(onnx, vnnlib, timeout)`` rows of the benchmark's instances CSV (paths relative to it)."""
    if csv_path is None:
        found = sorted(benchmark.glob("*instances.csv"))
        if not found:
            raise InputError(f"{benchmark}: no instances.csv found (give --instances)")
        csv_path = found[0]
    rows = []
    for number, row in enumerate(csv.reader(csv_path.read_text().splitlines()), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 3:
            raise InputError(f"{csv_path}: line {number}: expected onnx,vnnlib,timeout")
        try:
            timeout = float(row[2])
        except ValueError:
            raise InputError(f"{csv_path}: line {number}: timeout {row[2]!r} is not a number") from None
        rows.append((csv_path.parent / row[0].strip(), csv_path.parent / row[1].strip(), timeout))
    return rows


def run_instance(onnx: Path, vnnlib: Path, timeout: float, options: Options | None = None) -> dict:
    """Decide one instance: ``{"result", "time_s", "counterexample" (x, y) or None, "reason",
    "peak_mb"}`` (the process's peak resident memory so far: an upper bound for this instance)."""
    outcome = _decide_instance(onnx, vnnlib, timeout, options)
    return outcome | {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # kB on Linux


def _decide_instance(onnx: Path, vnnlib: Path, timeout: float, options: Options | None) -> dict:
    start = time.perf_counter()
    try:
        net = load_network(onnx)
        prop = load_vnnlib(vnnlib, net.input_size, net.output_size)
        base = options or Options()
        left = max(timeout - (time.perf_counter() - start) - FINISHING, 1e-3)
        row = analyse(net, prop, [COMPLETE], Options(**{**base.__dict__, "time_limit": left}))[COMPLETE]
    except InputError as error:
        return {"result": "error", "time_s": time.perf_counter() - start, "counterexample": None,
                "reason": str(error)}
    except Exception as error:  # noqa: BLE001 (a crash is an error result, never a verdict)
        return {"result": "error", "time_s": time.perf_counter() - start, "counterexample": None,
                "reason": f"{type(error).__name__}: {error}"}
    elapsed = time.perf_counter() - start
    word = WORDS.get(row["status"]) or ("timeout" if elapsed >= timeout - FINISHING else "unknown")
    x = row.get("counterexample") if word == "violated" else None
    counterexample = None if x is None else (x, net.forward(np.array(x)).tolist())
    return {"result": word, "time_s": elapsed, "counterexample": counterexample, "reason": row.get("reason", "")}


def write_result_file(path: Path, outcome: dict) -> None:
    """The competition's result file: the word, then for ``violated`` the assignment
    ``((X_0 v) ... (Y_0 v) ...)``."""
    lines = [outcome["result"]]
    if outcome["counterexample"] is not None:
        x, y = outcome["counterexample"]
        pairs = [f"(X_{i} {v!r})" for i, v in enumerate(x)] + [f"(Y_{j} {v!r})" for j, v in enumerate(y)]
        lines.append("(" + "\n ".join(pairs) + ")")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def read_published(path: Path) -> dict[tuple[str, str], tuple[str, float]]:
    """A published results CSV (``benchmark,onnx,vnnlib,prepare_time,result,run_time``) by
    ``(onnx name, vnnlib name)``."""
    if not path.exists():
        raise InputError(f"{path}: no such results CSV")
    out = {}
    for row in csv.reader(path.read_text().splitlines()):
        if len(row) < 6:
            continue
        word = row[4].strip().lower()
        try:
            seconds = float(row[5])
        except ValueError:
            seconds = float("nan")
        out[_name(row[1]), _name(row[2])] = (PUBLISHED_WORDS.get(word, word), seconds)
    return out


def _name(path: str) -> str:
    """A file's name without ``.gz``: the results CSVs name ``net.onnx`` where a benchmark ships ``net.onnx.gz``."""
    name = Path(path).name
    return name[:-3] if name.endswith(".gz") else name


def compare(ours: list[dict], published: dict[str, dict]) -> list[dict]:
    """Per instance: our word and time beside each published tool's, and whether any tool
    contradicts us (holds against violated)."""
    out = []
    for row in ours:
        key = (_name(row["onnx"]), _name(row["vnnlib"]))
        theirs = {tool: results.get(key) for tool, results in published.items()}
        words = {w for w, _ in filter(None, theirs.values())}
        decided = {"holds", "violated"} & words
        contradiction = row["result"] in ("holds", "violated") and bool(decided - {row["result"]})
        out.append(row | {"published": theirs, "contradiction": contradiction})
    return out


def summary_lines(compared: list[dict], tools: list[str]) -> list[str]:
    """Decided counts and contradictions: ours, then each tool's on the same instances."""
    ours = Counter(r["result"] for r in compared)
    lines = [f"ours: {len(compared)} instances, {ours['holds']} holds, {ours['violated']} violated, "
             f"{ours['timeout'] + ours['unknown']} undecided, {ours['error']} errors, "
             f"{sum(r['contradiction'] for r in compared)} contradicted by a published tool, "
             f"total {sum(r['time_s'] for r in compared):.1f} s, "
             f"peak memory {max((r['peak_mb'] for r in compared), default=0.0):.0f} MB, "
             f"largest overrun of a timeout {max((r['time_s'] - r['timeout'] for r in compared), default=0.0):+.2f} s"]
    for tool in tools:
        results = [r["published"][tool] for r in compared if r["published"][tool] is not None]
        decided = sum(word in ("holds", "violated") for word, _ in results)
        clash = sum(1 for r in compared if r["published"][tool] is not None and r["result"] in ("holds", "violated")
                    and r["published"][tool][0] in ("holds", "violated") and r["published"][tool][0] != r["result"])
        seconds = sum(t for word, t in results if np.isfinite(t))
        lines.append(f"{tool}: {decided} of {len(results)} decided, {clash} disagree with ours, total {seconds:.1f} s")
    return lines


def run_benchmark(args) -> int:
    """``qcqp vnncomp``: one instance (``--onnx``/``--vnnlib``/``--result-file``, the competition's
    ``run_instance.sh``) or every row of a benchmark folder's instances CSV."""
    if args.timeout is not None and args.timeout <= 0:
        raise InputError("--timeout must be > 0")
    if args.jobs < 1 or (args.limit is not None and args.limit < 1):
        raise InputError("--jobs and --limit must be at least 1")
    if args.onnx or args.vnnlib:
        if not (args.onnx and args.vnnlib and args.result_file and args.timeout):
            raise InputError("--onnx needs --vnnlib, --result-file and --timeout")
        outcome = run_instance(Path(args.onnx), Path(args.vnnlib), args.timeout)
        write_result_file(Path(args.result_file), outcome)
        print(f"{outcome['result']} ({outcome['time_s']:.2f} s) {outcome['reason']}")
        return 1 if outcome["result"] == "error" else 0
    if args.benchmark is None:
        raise InputError("give a BENCHMARK folder, or --onnx/--vnnlib/--result-file/--timeout for one instance")
    benchmark = Path(args.benchmark)
    rows = instances(benchmark, Path(args.instances) if args.instances else None)[:args.limit]
    published = {Path(p).stem: read_published(Path(p)) for p in args.compare or []}
    out = Path(args.out or f"results/vnncomp/{benchmark.name}")
    name = args.name or benchmark.name
    results = []
    for (onnx, vnnlib, timeout), outcome in _run_all(rows, args):
        write_result_file(out / "results" / f"{onnx.stem}_{vnnlib.stem}.txt", outcome)
        results.append({"benchmark": name, "onnx": str(onnx), "vnnlib": str(vnnlib), "timeout": timeout,
                        "result": outcome["result"], "time_s": outcome["time_s"], "reason": outcome["reason"],
                        "peak_mb": outcome.get("peak_mb", 0.0)})
        if not args.quiet:
            print(f"{onnx.name} {vnnlib.name}: {outcome['result']} ({outcome['time_s']:.2f} s)", flush=True)
    order = {(str(o), str(v)): k for k, (o, v, _) in enumerate(rows)}
    results.sort(key=lambda r: order[r["onnx"], r["vnnlib"]])
    _write_csv(out / "results.csv", results)
    compared = compare(results, published)
    if published:
        _write_comparison(out / "comparison.csv", compared, list(published))
    for line in summary_lines(compared, list(published)):
        print(line)
    print(f"wrote {out / 'results.csv'}")
    return 1 if any(r["result"] == "error" for r in results) else 0


def _run_all(rows, args):
    if args.jobs <= 1 and args.scheduler is None:
        for row in rows:
            yield row, run_instance(*row)
        return
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("--jobs/--scheduler need dask: pip install 'qcqp-relax[dist]'") from None
    cluster = None if args.scheduler else LocalCluster(n_workers=args.jobs, threads_per_worker=1,
                                                       dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        futures = {client.submit(run_instance, *row, pure=False): row for row in rows}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:  # noqa: BLE001 (the worker itself died)
                yield futures[future], {"result": "error", "time_s": float("nan"), "counterexample": None,
                                        "reason": f"worker failed: {error}"}
    if cluster is not None:
        cluster.close()


def _write_csv(path: Path, results: list[dict]) -> None:
    """The competition's layout: benchmark, onnx, vnnlib, prepare time, result, run time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        for r in results:
            writer.writerow([r["benchmark"], r["onnx"], r["vnnlib"], 0.0, r["result"], f"{r['time_s']:.6f}"])


def _write_comparison(path: Path, compared: list[dict], tools: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["onnx", "vnnlib", "ours", "time_s", "peak_mb", "contradiction"]
                        + [f"{tool}{suffix}" for tool in tools for suffix in ("", "_time_s")])
        for r in compared:
            cells = [item for tool in tools for item in (r["published"][tool] or ("", ""))]
            writer.writerow([Path(r["onnx"]).name, Path(r["vnnlib"]).name, r["result"], f"{r['time_s']:.3f}",
                             f"{r['peak_mb']:.0f}", r["contradiction"]] + cells)
