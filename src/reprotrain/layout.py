"""Where a run puts what it makes, and which of it the manifest covers.

Each output is declared once, in OUTPUTS; the rules, the manifest, the audit and the
`make run` summary all read their paths from a Layout. Pure: no Snakemake, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

# The wildcard patterns of a run's directories: one per (dataset version, seed) for the
# split, one per model below it.
SPLIT = "{dataset}/{version}/seed-{seed}"
SPLIT_MODEL = f"{SPLIT}/{{model}}"

# Which outputs the run manifest pins by sha256:
#   "always": every run's; "comparison": only when the run has more than one model run
#   (for one run the comparison would restate metrics.json at the cost of a job);
#   "no": kept, not pinned (intermediates, the manifest itself, the verdict, the reports).
Coverage = Literal["always", "comparison", "no"]
Scope = Literal["split", "model", "run"]
# The kind of task an output is made for (None: every kind).
Kind = Literal["classification", "regression"]
# What a covered output is: a result of the run (the model, the split tables, metrics,
# figures, summaries), or a record that describes how results were made (the environment
# fingerprint, the data record, the model card). A record may differ from the recorded one
# by a recorded change of the environment while every artifact is identical: the run is
# then reproduced (reprotrain.audit.comparison.judge), unless the config is strict.
Role = Literal["artifact", "record"]
ROLES: tuple[Role, ...] = ("artifact", "record")


@dataclass(frozen=True)
class Output:
    """One kind of output: its key, its path under the results directory, its scope
    (one per split, one per model run, or one per run) and whether it is covered."""

    key: str
    path: str
    scope: Scope
    coverage: Coverage = "always"
    # Made by Snakemake's --report rather than by a rule.
    by_report: bool = False
    only_for: Kind | None = None
    role: Role = "artifact"

    @property
    def pattern(self) -> str:
        prefix = {"split": f"runs/{SPLIT}/", "model": f"runs/{SPLIT_MODEL}/", "run": ""}
        return prefix[self.scope] + self.path


OUTPUTS = (
    Output("train", "data/train.npy", "split"),
    Output("test", "data/test.npy", "split"),
    Output("data_record", "data/data.json", "split", role="record"),
    Output("estimator", "estimator.pkl", "model", coverage="no"),
    Output("training", "training.json", "model", coverage="no"),
    Output("model", "model.pkl", "model"),
    Output("card", "model_card.json", "model", role="record"),
    Output("metrics", "metrics.json", "model"),
    Output("roc", "roc.svg", "model", only_for="classification"),
    Output("confusion", "confusion.svg", "model", only_for="classification"),
    Output("predicted", "predicted.svg", "model", only_for="regression"),
    Output("residuals", "residuals.svg", "model", only_for="regression"),
    Output("environment", "environment.json", "run", role="record"),
    Output("summary_table", "summary/metrics.csv", "run", coverage="comparison"),
    Output("summary_html", "summary/metrics.html", "run", coverage="comparison"),
    Output("comparison", "summary/comparison.svg", "run", coverage="comparison"),
    Output("manifest", "manifest.json", "run", coverage="no"),
    Output("checksum", "checksum.json", "run", coverage="no"),
    Output("provenance", "report/provenance.html", "run", coverage="no"),
    Output("report", "report.html", "run", coverage="no", by_report=True),
    # Made on request by the crate rule (reprotrain.interop.crate).
    Output("crate", "crate.zip", "run", coverage="no"),
)
# The names a results directory holds at its top: what a folder of another reprotrain
# run may hold (reprotrain.fileio.check_output_directory).
TOP_LEVEL = frozenset(output.pattern.split("/")[0] for output in OUTPUTS)
# Intermediates that a later job consumes: not pinned, and not left once used.
TEMPORARY = frozenset({"estimator", "training"})


def _check_unique(outputs: Iterable[Output]) -> dict[str, Output]:
    by_key: dict[str, Output] = {}
    for output in outputs:
        if output.key in by_key:
            raise ValueError(f"output {output.key!r} is declared twice")
        by_key[output.key] = output
    return by_key


@dataclass(frozen=True)
class Combination:
    """One (dataset version, seed) split and the model runs made from it."""

    dataset: str
    version: str
    seed: int
    models: tuple[str, ...]
    kind: Kind = "classification"

    @property
    def split(self) -> dict[str, object]:
        return {"dataset": self.dataset, "version": self.version, "seed": self.seed}

    @property
    def runs(self) -> list[dict[str, object]]:
        return [self.split | {"model": model} for model in self.models]


def combinations(
    data_versions: Iterable[tuple[str, str]],
    seeds: Iterable[int],
    models: Iterable[str],
    regression: Iterable[tuple[str, str]] = (),
) -> list[Combination]:
    """Every (data version, seed) of a run in config order, each with every model;
    ``regression``: the data versions whose task is a regression."""
    seeds, models, regression = list(seeds), tuple(models), set(regression)
    return [
        Combination(
            name,
            version,
            seed,
            models,
            "regression" if (name, version) in regression else "classification",
        )
        for name, version in data_versions
        for seed in seeds
    ]


@dataclass(frozen=True)
class Layout:
    """The paths of one run: everything under `results`, logs and benchmarks under `logs`
    (logs/<results>/ for a results directory other than the default)."""

    results: str
    combinations: tuple[Combination, ...]
    outputs: tuple[Output, ...] = OUTPUTS

    def __post_init__(self) -> None:
        self._by_key  # noqa: B018  (an output declared twice is refused here)

    @property
    def logs(self) -> str:
        return "logs" if self.results == "results" else f"logs/{self.results}"

    @property
    def out(self) -> dict[str, str]:
        """Each output's path pattern (with wildcards), by key."""
        return {o.key: f"{self.results}/{o.pattern}" for o in self.outputs}

    def log(self, rule: str, wildcards: str | None = None) -> str:
        """logs/<rule>.log, or logs/<rule>/<wildcards>.log for a rule with wildcards."""
        return f"{self.logs}/{rule}/{wildcards}.log" if wildcards else f"{self.logs}/{rule}.log"

    def benchmark(self, rule: str, wildcards: str | None = None) -> str:
        """Snakemake's timing of each job, beside the logs; benchmarks/run.py reads them."""
        if wildcards:
            return f"{self.logs}/benchmarks/{rule}/{wildcards}.tsv"
        return f"{self.logs}/benchmarks/{rule}.tsv"

    @property
    def seal(self) -> str:
        """save's seal of model.pkl: random per directory (signing.py), so kept with the logs."""
        return f"{self.logs}/save/{SPLIT_MODEL}.seal"

    @property
    def verdict(self) -> str:
        """validate's record of a missed threshold: the end of a sweep lists every run's."""
        return f"{self.logs}/validate/{SPLIT_MODEL}.verdict.json"

    @property
    def estimator_seal(self) -> str:
        """train's seal of the pickle it hands to save."""
        return f"{self.logs}/train/{SPLIT_MODEL}.seal"

    def role(self, key: str) -> Role:
        return self._by_key[key].role

    # Built once: the recipes ask it the role of every covered output.
    @functools.cached_property
    def _by_key(self) -> dict[str, Output]:
        return _check_unique(self.outputs)

    @property
    def runs(self) -> list[dict[str, object]]:
        """Every model run's wildcards, in config order."""
        return [run for combination in self.combinations for run in combination.runs]

    def _instances(self) -> Iterator[tuple[Output, dict[str, object]]]:
        for output in self.outputs:
            if output.scope == "split":
                for combination in self.combinations:
                    yield output, combination.split
            elif output.scope == "model":
                for combination in self.combinations:
                    if output.only_for in (None, combination.kind):
                        for run in combination.runs:
                            yield output, run
            else:
                yield output, {}

    def _is_covered(self, output: Output) -> bool:
        if output.coverage == "comparison":
            return len(self.runs) > 1
        return output.coverage == "always"

    @property
    def covered(self) -> dict[str, tuple[str, dict[str, object]]]:
        """Each output whose bytes the manifest pins, with its key and wildcards."""
        return {
            self._path(output, wildcards): (output.key, wildcards)
            for output, wildcards in self._instances()
            if self._is_covered(output)
        }

    def _path(self, output: Output, wildcards: dict[str, object]) -> str:
        return f"{self.results}/{output.pattern}".format(**wildcards)

    @property
    def uncovered(self) -> list[str]:
        """What a run leaves that is deliberately not pinned (`reprotrain verify` knows
        them): the run-level records and reports; temporary intermediates are gone."""
        return [self._path(o, {}) for o in self.outputs if o.coverage == "no" and o.scope == "run"]

    def paths_of(self, key: str) -> list[str]:
        """Every path of one output kind in this run (say, each run's metrics.json)."""
        return [self._path(o, w) for o, w in self._instances() if o.key == key]
