#!/usr/bin/env bash
# Regenerate the locks of the rule environment, in dependency order:
#   tools/lock.sh conda   envs/environment.yaml -> envs/conda-lock.yml (4 platforms)
#                         -> envs/environment.<platform>.pin.txt (conda-lock render)
#   tools/lock.sh pip     envs/conda-lock.yml -> envs/conda-constraints.txt
#                         -> envs/requirements.lock (uv, --generate-hashes)
#   tools/lock.sh all     both
# `conda` needs conda-lock and a reachable conda-forge; `pip` needs PyPI. Both use the
# tools of the locked venv (make setup).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${VENV:-.venv}/bin"
platforms=(linux-64 osx-64 osx-arm64 win-64)

lock_conda() {
    local args=()
    for platform in "${platforms[@]}"; do args+=(-p "$platform"); done
    "$bin/conda-lock" lock -f envs/environment.yaml --lockfile envs/conda-lock.yml "${args[@]}"
    (cd envs && "../$bin/conda-lock" render --kind explicit "${args[@]}" \
        --filename-template 'environment.{platform}.pin.txt' conda-lock.yml)
}

lock_pip() {
    "$bin/reprotrain" lock-constraints > envs/conda-constraints.txt
    UV_PYTHON_DOWNLOADS=never "$bin/uv" pip compile envs/requirements.in \
        --constraint envs/conda-constraints.txt \
        --python "$bin/python" --python-version 3.12 --universal \
        --generate-hashes --custom-compile-command "make pip-lock" \
        --output-file envs/requirements.lock --quiet
    "$bin/reprotrain" check-locks
}

case "${1:-all}" in
    conda) lock_conda ;;
    pip) lock_pip ;;
    all) lock_conda && lock_pip ;;
    *) echo "usage: $0 [conda|pip|all]" >&2; exit 2 ;;
esac
