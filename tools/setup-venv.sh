#!/usr/bin/env bash
# Create (or bring up to date) the pip-locked virtual environment:
#   tools/setup-venv.sh [VENV]     (default .venv)
# Every package is installed from envs/requirements.lock with --require-hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
lock=envs/requirements.lock
stamp="$venv/.reprotrain-lock.sha256"
want="$(sha256sum "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

python="$(tools/find-python.sh)"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    rm -rf "$venv"
    echo "reprotrain: creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi
echo "reprotrain: installing $lock into $venv (pip --require-hashes)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes -r "$lock"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --no-build-isolation --editable .
echo "$want" > "$stamp"
# The lock this venv holds; the workflow refuses to run once the lock moves away from it.
sha256sum "$lock" | cut -d' ' -f1 > "$venv/reprotrain-installed-lock.sha256"
