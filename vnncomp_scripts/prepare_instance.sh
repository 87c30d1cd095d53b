#!/usr/bin/env bash
# VNN-COMP harness: prepare_instance.sh v1 CATEGORY ONNX VNNLIB — nothing to prepare but a
# check that both files exist (the network and property are read inside the timed run).
set -euo pipefail
[ "$1" = "v1" ] || { echo "expected API version v1, got $1" >&2; exit 1; }
[ -f "$3" ] || { echo "$3: no such network" >&2; exit 1; }
[ -f "$4" ] || { echo "$4: no such property" >&2; exit 1; }
exit 0
