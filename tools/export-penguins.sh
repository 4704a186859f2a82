#!/usr/bin/env bash
# Export the embedded multi-class dataset (penguins v1.0) once: the Palmer Archipelago
# penguins (Gorman, Williams and Fraser 2014; Horst, Hill and Gorman 2020), 344 rows,
# species as string labels, island and sex as categories, measurements with missing
# values (NA). The data are CC0 (Palmer Station LTER data policy); the file is taken
# verbatim from the palmerpenguins 0.1.6 wheel on PyPI, whose sha256 is checked first.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel_sha256=5c3be9af84dd703a25f1aaeadeac6ac770cfd38c1620d00089f581c023129ee0
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"${VENV:-.venv}/bin/python" -m pip download --quiet --no-deps "palmerpenguins==0.1.6" -d "$scratch"
echo "$wheel_sha256  $scratch/palmerpenguins-0.1.6-py3-none-any.whl" | sha256sum --check --quiet
mkdir -p data/penguins/v1.0
"${VENV:-.venv}/bin/python" - "$scratch"/palmerpenguins-0.1.6-py3-none-any.whl <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("palmerpenguins/data/penguins.csv")
open("data/penguins/v1.0/penguins.csv", "wb").write(data)
PY
sha256sum data/penguins/v1.0/penguins.csv
