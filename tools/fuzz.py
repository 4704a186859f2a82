"""Fuzz one parser of user-controlled bytes with atheris (coverage-guided, libFuzzer).

    python tools/fuzz.py TARGET [libFuzzer options]    e.g. -max_total_time=600

TARGET is one of tests/fuzz/targets.py's TARGETS. Starts from the target's seeds, keeps
the corpus in fuzz-corpus/TARGET and writes a crashing input as fuzz-corpus/crash-*.
`make fuzz` runs every target for FUZZ_SECONDS each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

with atheris.instrument_imports(include=["reprotrain"]):
    from fuzz import targets


def main() -> None:
    name, options = sys.argv[1], sys.argv[2:]
    corpus = REPO / "fuzz-corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(targets.seeds(name)):
        (corpus / f"seed-{index}").write_bytes(seed)
    artifacts = f"-artifact_prefix={REPO / 'fuzz-corpus'}/crash-{name}-"
    atheris.Setup(
        [sys.argv[0], *options, "-timeout=10", "-rss_limit_mb=4096", artifacts, str(corpus)],
        lambda data: targets.run(name, data),
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
