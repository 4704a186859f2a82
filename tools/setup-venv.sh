#!/usr/bin/env bash
# Create (or bring up to date) a pip-locked virtual environment:
#   tools/setup-venv.sh [VENV]                 the base one (default .venv), from
#                                              envs/requirements.lock, with reprotrain
#   tools/setup-venv.sh VENV envs/NAME/requirements.lock
#                                              a named environment (reprotrain.environment.
#                                              named): its lock only; jobs find reprotrain
#                                              on their PYTHONPATH, as in a conda env
# Every package is installed with --require-hashes, into a venv of the interpreter
# tools/find-python.sh picks (the record's exact version when this machine has it); the
# venv names it in reprotrain-python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
lock="${2:-envs/requirements.lock}"
base=$([[ "$lock" == envs/requirements.lock ]] && echo yes || echo no)
stamp="$venv/.reprotrain-lock.sha256"

said="$(mktemp)"
trap 'rm -f "$said"' EXIT
python="$(tools/find-python.sh 2>"$said")" || { cat "$said" >&2; exit 1; }
chosen="$("$python" -c 'import platform, sys; print(platform.python_version(), sys.executable)')"
want="$( (sha256sum "$lock" pyproject.toml; echo "$chosen") | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

cat "$said" >&2
# A venv of another interpreter is made anew (a venv cannot change its interpreter).
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/reprotrain-python" 2>/dev/null)" != "$chosen" ]]; then
    rm -rf "$venv"
    echo "reprotrain: creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi
echo "reprotrain: installing $lock into $venv (pip --require-hashes)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes -r "$lock"
if [[ "$base" == yes ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --no-deps --no-build-isolation --editable .
fi
echo "$chosen" > "$venv/reprotrain-python"
echo "$want" > "$stamp"
# The lock this venv holds; the workflow refuses to run once the lock moves away from it.
sha256sum "$lock" | cut -d' ' -f1 > "$venv/reprotrain-installed-lock.sha256"
