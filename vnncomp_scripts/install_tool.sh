#!/usr/bin/env bash
# VNN-COMP harness: install_tool.sh v1 — a venv beside the repository with qcqp-relax in it.
set -euo pipefail
[ "${1:-v1}" = "v1" ] || { echo "expected API version v1, got $1" >&2; exit 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
python3 -m venv "$root/.venv"
"$root/.venv/bin/python" -m pip install -q --upgrade pip
"$root/.venv/bin/python" -m pip install -q -e "$root"
