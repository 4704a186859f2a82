#!/usr/bin/env bash
# Regenerate docs/nondeterminism-examples.md: `reprotrain hunt` on a copy of the shipped
# pipeline, then on copies with a planted nondeterminism each, captured verbatim.
#   tools/capture-hunt-examples.sh      (needs `make setup` and `make test`'s Debian
#                                        packages; about ten minutes on 2 cores)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$repo/.venv/bin"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
out="$repo/docs/nondeterminism-examples.md"

# shellcheck source=tools/scratch-copy.sh
source "$repo/tools/scratch-copy.sh"
capture() {  # capture TITLE DESCRIPTION NAME
    local status=0
    (cd "$scratch" && "$bin/reprotrain" hunt --root "$3" --out "$3-report" >/dev/null 2>&1) || status=$?
    {
        printf '## %s\n\n%s\n\n`reprotrain hunt --root %s` exited %s. Its report.md:\n\n' "$1" "$2" "$3" "$status"
        sed 's/^#/###/' "$scratch/$3-report/report.md"
        printf '\n'
    } >>"$out"
}

printf '# Nondeterminism hunts, captured\n\nMade by `tools/capture-hunt-examples.sh` on a 2-core Debian 12 machine; see\n[nondeterminism.md](nondeterminism.md) for what the hunt does.\n\n' >"$out"

copy shipped
capture "The shipped pipeline" "Nothing planted: every output must be identical under every variation." shipped

copy threads
"$bin/python" - "$scratch/threads/src/reprotrain/steps/learning.py" <<'PY'
import sys
from pathlib import Path
path = Path(sys.argv[1])
fit = "    models.fit(estimator, features, labels, threads)\n"
planted = (
    "    import numpy as np\n\n"
    "    chunks = np.array_split(np.array([1e16, 1.0, -1e16, 1.0]), threads)\n"
    "    estimator.planted_sum_ = float(sum(float(sum(chunk)) for chunk in chunks))\n"
)
path.write_text(path.read_text().replace(fit, fit + planted))
PY
capture "A thread-count dependent float sum" \
    "Planted in \`train\`: a sum split into one chunk per training thread, stored on the model." threads

copy clock
"$bin/python" - "$scratch/clock/src/reprotrain/steps/learning.py" <<'PY'
import sys
from pathlib import Path
path = Path(sys.argv[1])
write = "    write_json(out, metrics)\n"
planted = "    import time\n\n    metrics[\"evaluated_in\"] = time.strftime(\"%Y\")\n"
path.write_text(path.read_text().replace(write, planted + write))
PY
capture "A timestamp in the metrics" \
    "Planted in \`validate\`: the year the metrics were computed, written into metrics.json." clock
