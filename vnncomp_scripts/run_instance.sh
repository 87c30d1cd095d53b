#!/usr/bin/env bash
# VNN-COMP harness: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULT_FILE TIMEOUT — writes
# holds / violated (with the counterexample) / timeout / unknown / error to RESULT_FILE.
set -uo pipefail
[ "$1" = "v1" ] || { echo "expected API version v1, got $1" >&2; exit 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
qcqp="$root/.venv/bin/qcqp"
[ -x "$qcqp" ] || qcqp="qcqp"
"$qcqp" vnncomp --onnx "$3" --vnnlib "$4" --result-file "$5" --timeout "$6"
