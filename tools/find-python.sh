#!/usr/bin/env bash
# Print the path of the Python 3.12 interpreter to build the venv with, and say on stderr
# which one it is and why:   tools/find-python.sh [RECORD]   (default config/manifest.json)
#
# $REPROTRAIN_PYTHON when set (your choice stands). Otherwise the exact version RECORD was
# recorded with, when this machine has it, else the newest 3.12, looking at python3.12
# and python3 on PATH, pyenv's versions, uv's managed interpreters, /usr/local/bin and
# /usr/bin. Another 3.12 patch makes the same artifacts; checks pass and say that the
# environment differs (docs/environment.md: the exact interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
record="${1:-config/manifest.json}"

# "<version> <executable>" of an interpreter (pyenv shims resolved), or nothing.
probe() {
    "$1" -c 'import platform, sys; print(platform.python_version(), sys.executable)' 2>/dev/null
}

candidates=()
for name in python3.12 python3; do
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
done
pyenv_root="${PYENV_ROOT:-}"
if [[ -z "$pyenv_root" ]] && command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root)"
fi
[[ -z "$pyenv_root" && -d "$HOME/.pyenv" ]] && pyenv_root="$HOME/.pyenv"
uv_root="${UV_PYTHON_INSTALL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/uv/python}"
# pyenv's, then uv's, newest 3.12.x first.
for pattern in "$pyenv_root/versions/3.12*" "$uv_root/cpython-3.12*"; do
    while IFS= read -r dir; do
        candidates+=("$dir/bin/python3.12")
    done < <(find "$(dirname "$pattern")" -maxdepth 1 -name "$(basename "$pattern")" 2>/dev/null \
        | sort -rV)
done
candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12)

found=()  # "<version> <executable>" of each 3.12, in the order above
for candidate in "${candidates[@]}"; do
    [[ -x "$candidate" ]] || continue
    line="$(probe "$candidate")" || continue
    [[ "$line" == 3.12.* ]] && found+=("$line")
done

# The version the record names, read by the first interpreter that can.
wanted=""
if [[ -f "$record" ]]; then
    for line in "${found[@]}"; do
        version="$("${line#* }" -c 'import json, sys
print(json.load(open(sys.argv[1]))["provenance"]["environment"]["python"]["version"])' \
            "$record" 2>/dev/null)" || continue
        if [[ "$version" =~ ^3\.12\.[0-9]+$ ]]; then
            wanted="$version"
            break
        fi
    done
fi

say() { echo "reprotrain: $*" >&2; }
recorded_with() {
    if [[ -z "$wanted" ]]; then
        echo "(no record to match: $record)"
    elif [[ "$1" == "$wanted" ]]; then
        echo "the version $record was recorded with"
    else
        echo "$record was recorded with $wanted: artifacts are expected to be the same bytes, and checks pass saying the environment differs; for the exact interpreter see docs/environment.md"
    fi
}

# Take "<version> <executable>", found where $2 says: say which and why, print its path.
take() {
    say "Python ${1%% *} $2 ($(recorded_with "${1%% *}"))"
    echo "${1#* }"
    exit 0
}

if [[ -n "${REPROTRAIN_PYTHON:-}" ]]; then
    line="$(probe "$REPROTRAIN_PYTHON")" || line=""
    if [[ "$line" != 3.12.* ]]; then
        say "REPROTRAIN_PYTHON=$REPROTRAIN_PYTHON is not a Python 3.12 (${line:-it does not run})"
        echo "  fix: point REPROTRAIN_PYTHON at a Python 3.12 interpreter, or unset it" >&2
        exit 1
    fi
    take "$line" "from REPROTRAIN_PYTHON"
fi
for line in "${found[@]}"; do
    [[ -n "$wanted" && "${line%% *}" == "$wanted" ]] && take "$line" "at ${line#* }"
done
((${#found[@]})) && take "${found[0]}" "at ${found[0]#* }"

version="$(sed -n 's/.*"version": "\(3\.12\.[0-9]*\)".*/\1/p' "$record" 2>/dev/null | head -1)"
version="${version:-3.12}"
cat >&2 <<MSG
reprotrain: no Python 3.12 found (looked at \$REPROTRAIN_PYTHON, python3.12 and python3
on PATH, pyenv's versions, uv's managed interpreters, /usr/local/bin and /usr/bin).
  fix: install Python $version, the version $record was recorded with (\`pyenv install
       $version\` or \`uv python install $version\`), or set REPROTRAIN_PYTHON to a Python
       3.12, then rerun. The locked environment pins Python 3.12 (envs/environment.yaml).
MSG
exit 1
