#!/usr/bin/env bash
# Creates (once) the Python environment the interop tests use: a venv with the pinned packages
# of scripts/python-requirements.txt, from PyPI. Prints the interpreter's path as its only
# stdout line (progress goes to stderr), so that
#
#     export SPARSEKIT_PYTHON=$(scripts/python-env.sh)
#
# is all a test run needs (`cargo xtask test` does exactly this). Idempotent: when the venv
# already holds this requirements file, it only prints the path.
#
# Location: $SPARSEKIT_VENV, else ${XDG_CACHE_HOME:-$HOME/.cache}/sparsekit/venv.
# Interpreter used to create it: $PYTHON, else python3.
set -euo pipefail

req="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/python-requirements.txt"
venv="${SPARSEKIT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sparsekit/venv}"
py="$venv/bin/python"
stamp="$venv/sparsekit-requirements.txt"

if [[ -x "$py" ]] && cmp -s "$req" "$stamp"; then
  echo "$py"
  exit 0
fi

base="${PYTHON:-python3}"
if ! command -v "$base" >/dev/null; then
  echo "python-env: no $base found; install Python 3.10+ (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
  exit 1
fi
echo "python-env: creating $venv with $("$base" --version 2>&1) (pinned: $req)" >&2
rm -rf "$venv"
if ! "$base" -m venv "$venv" >&2; then
  echo "python-env: '$base -m venv' failed; Debian/Ubuntu: apt-get install python3-venv" >&2
  exit 1
fi
"$py" -m pip install --quiet --disable-pip-version-check --no-input --only-binary=:all: -r "$req" >&2
"$py" -c "import numpy, scipy, safetensors, torch, transformers, sentence_transformers, sae_lens, sparsify" >&2
cp "$req" "$stamp"
echo "$py"
