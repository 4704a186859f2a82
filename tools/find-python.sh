#!/usr/bin/env bash
# Print the path of a Python 3.12 interpreter, or explain how to get one and fail.
# Looks at $REPROTRAIN_PYTHON, python3.12 and python3 on PATH, then pyenv's versions.
set -euo pipefail

is_python312() {
    "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

candidates=()
[[ -n "${REPROTRAIN_PYTHON:-}" ]] && candidates+=("$REPROTRAIN_PYTHON")
for name in python3.12 python3; do
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
done
pyenv_root="${PYENV_ROOT:-}"
if [[ -z "$pyenv_root" ]] && command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root)"
fi
[[ -z "$pyenv_root" && -d "$HOME/.pyenv" ]] && pyenv_root="$HOME/.pyenv"
if [[ -n "$pyenv_root" ]]; then
    # Newest 3.12.x first.
    while IFS= read -r dir; do
        candidates+=("$dir/bin/python3.12")
    done < <(find "$pyenv_root/versions" -maxdepth 1 -name '3.12*' 2>/dev/null | sort -rV)
fi
candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12)

for candidate in "${candidates[@]}"; do
    if [[ -x "$candidate" ]] && is_python312 "$candidate"; then
        # Resolve pyenv shims to the real interpreter.
        "$candidate" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done

cat >&2 <<'MSG'
reprotrain: no Python 3.12 found (looked at $REPROTRAIN_PYTHON, python3.12 and python3
on PATH, pyenv's versions, /usr/local/bin and /usr/bin).
  fix: install Python 3.12 (e.g. `pyenv install 3.12`), or set REPROTRAIN_PYTHON to its
       path, then rerun. The locked environment pins Python 3.12 (envs/environment.yaml).
MSG
exit 1
