#!/usr/bin/env bash
# Export the RO-Crate 1.1 JSON-LD context (CC0) into the package, once: rocrate-validator
# resolves https://w3id.org/ro/crate/1.1/context over HTTP, and `reprotrain crate
# --validate` serves it from this copy so that validation works offline. ro-crate-py
# 0.9.0 was the last release to bundle the 1.1 context; the file is taken verbatim.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"${VENV:-.venv}/bin/python" -m pip download --quiet --no-deps "rocrate==0.9.0" -d "$scratch"
"${VENV:-.venv}/bin/python" - "$scratch"/rocrate-0.9.0-py3-none-any.whl <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("rocrate/data/ro-crate.jsonld")
open("src/reprotrain/data/ro-crate-1.1-context.jsonld", "wb").write(data)
PY
sha256sum src/reprotrain/data/ro-crate-1.1-context.jsonld
