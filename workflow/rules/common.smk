# Shared set-up: the package on the path, the resolved dataset, output paths, digests.

import functools
import json
import logging
import os
import re
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path

from snakemake import __version__ as snakemake_version
from snakemake.exceptions import WorkflowError
from snakemake.io import apply_wildcards
from snakemake.logging import logger
from snakemake.iocontainers import Wildcards
from snakemake_interface_executor_plugins.settings import DeploymentMethod

REPO = Path(workflow.basedir)
# Snakemake logs to .snakemake/log/: on a full disk, our one message must not end in a
# "Logging error" traceback of that handler.
logging.raiseExceptions = False
# The Snakefile and every rule job import the package from this checkout, whether
# they run in the pip-locked venv or in a conda env built from envs/.
sys.path.insert(0, str(REPO / "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
    ),
    # str hashing must not vary between the jobs of one run or between runs.
    PYTHONHASHSEED="0",
)

from reprotrain import (
    audit,
    drift,
    fileio,
    locks,
    manifest,
    memo,
    numerics,
    provenance,
    registry,
    runlock,
    schema,
    signing,
    yamlfile,
)  # noqa: E402
from reprotrain.errors import ReprotrainError  # noqa: E402
from reprotrain.hashing import digest_value, sha256_file  # noqa: E402

ENV_FILE = "../../envs/environment.yaml"
CONDA_SPEC = "envs/environment.yaml"
CONDA_LOCK = "envs/conda-lock.yml"
PIP_LOCK = "envs/requirements.lock"
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
# The lock that pins the software the rules actually run with.
ACTIVE_LOCK = (
    f"envs/environment.{locks.conda_subdir()}.pin.txt" if USE_CONDA else PIP_LOCK
)


def as_list(value):
    """A config value that may be one item or a list of them (a sweep)."""
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class DataVersion:
    """One dataset version of the run: the registry entry and, if synthetic, its rows."""

    dataset: registry.Dataset
    rows: int | None

    @property
    def spec(self):
        """What the rules get: the registry entry (plus rows for a generator)."""
        return asdict(self.dataset) | ({"rows": self.rows} if self.rows else {})

    @property
    def digest(self):
        """The data version as one input: a file's pinned sha256, or the generator's spec."""
        if self.dataset.kind == "file":
            return self.dataset.sha256
        return digest_value(self.spec)

    @property
    def input_digest(self):
        """The data version as an input of outputs: its content and what the data record
        says of it, so that a version renamed or moved with the same bytes is a data
        change to `reprotrain diff`, not nondeterminism."""
        dataset = self.dataset
        return digest_value(
            {
                "name": dataset.name,
                "version": dataset.version,
                "source": dataset.source,
                "content": self.digest,
            }
        )


# The code that makes the outputs, as one digest (recorded in the manifest).
CODE_DIGEST = provenance.code_digest(REPO)
# What depends only on bytes is checked once per version of those bytes and of the
# code: a no-op rerun costs what Snakemake itself costs (reprotrain/memo.py).
MEMO = memo.Memo(
    memo.STORE,
    salt={
        "code": CODE_DIGEST,
        "snakemake": snakemake_version,
        "python": sys.version,
        "platform": sysconfig.get_platform(),
    },
)


def check_against_schema(document, schema_name, label, sources=()):
    """reprotrain's one clear message first, then Snakemake's own validate()."""
    schema.check(document, REPO / "workflow/schemas" / schema_name, label, sources)
    validate(document, f"../schemas/{schema_name}")


CONFIG_LABEL = "config/config.yaml"


def config_file_of(field):
    """The config file (the shipped one or an overlay) that gives ``field`` or, when none
    does (a missing key), its nearest parent: where a message about it should point.
    Looked up only for a message, so a good run never parses the files again."""
    parts = re.sub(r"\[(\d+)\]", r".\1", field).split(".")
    for end in range(len(parts), 0, -1):
        if found := yamlfile.locate(CONFIG_FILES, ".".join(parts[:end])):
            return found[0]
    return CONFIG_LABEL


# The config files in the order they override each other: the Snakefile's configfile,
# then each --configfile.
CONFIG_FILES = []
# Every bad input stops the run here, before any job, with one message naming the
# file, the field and the fix.
try:
    # The config files, strictly, before anything walks the config they make (an alias
    # can stand for a tree of any size; a duplicate key hides the first).
    overlays = list(workflow.config_settings.configfiles)
    ordered = [f for f in workflow.configfiles if f not in overlays] + overlays
    for configfile in dict.fromkeys(Path(f).resolve() for f in ordered):
        shown = (
            os.path.relpath(configfile)
            if Path(configfile).is_relative_to(Path.cwd())
            else configfile
        )
        MEMO(yamlfile.check_file, str(shown), "config file", files=[configfile])
        CONFIG_FILES.append(str(shown))
    MEMO(
        check_against_schema,
        config,
        "config.schema.yaml",
        CONFIG_LABEL,
        CONFIG_FILES,
        files=CONFIG_FILES,
    )
    manifest.check_repository_path(
        config["registry"],
        "registry",
        config["results"],
        CONFIG_LABEL,
        "point registry at the dataset registry in the repository (config/datasets.yaml)",
    )
    REGISTRY = registry.load_yaml(config["registry"], "dataset registry")
    MEMO(check_against_schema, REGISTRY, "datasets.schema.yaml", config["registry"])
    # (name, version) -> DataVersion, in config order.
    DATA_VERSIONS = {}
    for index, entry in enumerate(as_list(config["dataset"])):
        field = (
            f"dataset[{index}]" if isinstance(config["dataset"], list) else "dataset"
        )
        dataset = registry.resolve(
            REGISTRY, entry["name"], entry["version"], config["registry"]
        )
        key = (dataset.name, dataset.version)
        if key in DATA_VERSIONS:
            raise ReprotrainError(
                CONFIG_LABEL,
                field,
                f"lists {dataset.name} {dataset.version} a second time",
                "list each dataset version once",
            )
        rows = registry.check_rows(dataset, entry.get("rows"), CONFIG_LABEL, field)
        registry.check_source_exists(dataset, config["registry"])
        DATA_VERSIONS[key] = DataVersion(dataset, rows)
    MEMO(
        locks.check_locks,
        CONDA_SPEC,
        CONDA_LOCK,
        "envs",
        PIP_LOCK,
        files=[
            CONDA_SPEC,
            CONDA_LOCK,
            PIP_LOCK,
            *sorted(Path("envs").glob("*.pin.txt")),
        ],
    )
    manifest.check_recorded_path(
        config["manifest"]["expected"],
        config["results"],
        CONFIG_LABEL,
    )
    manifest.check_results_directory(config["results"], CONFIG_LABEL)
    for directory in (config["results"], "logs", ".snakemake"):
        fileio.check_writable(directory)
    # One run per directory, released by the kernel even when the run is killed -9. Taken
    # before anything reads the outputs (a dry run too: it hashes them), so nothing ever
    # sees a running job's half-made outputs.
    if workflow.is_main_process:
        runlock.acquire(".snakemake/reprotrain-run.lock")
        # The key save seals models with, private to this directory (signing.py).
        signing.make_seal_key()
    # With a public key, only a record signed by its private key is trusted (signing.py).
    PUBLIC_KEY = config["manifest"].get("public_key")
    if PUBLIC_KEY is not None:
        manifest.check_repository_path(
            PUBLIC_KEY,
            "manifest.public_key",
            config["results"],
            CONFIG_LABEL,
            "point manifest.public_key at the public key, in the repository, that the "
            "records are signed for (`reprotrain keygen` makes a pair)",
        )
    RECORDED = None
    if Path(config["manifest"]["expected"]).exists():
        RECORDED = manifest.load(
            config["manifest"]["expected"], "recorded manifest", public_key=PUBLIC_KEY
        )
    DRIFT_MODE = config["environment_drift"]
    # The numerics every job uses, checked against this CPU before any job (and again
    # on every SLURM node, where each job parses this file too).
    NUMERICS = numerics.pin_from_config(config["numerics"], CONFIG_LABEL)
    numerics.check_host(NUMERICS, CONFIG_LABEL)
    # Without conda the rules run in this very interpreter: check it now.
    if not USE_CONDA:
        locks.check_installed_from(
            PIP_LOCK, Path(sys.prefix) / "reprotrain-installed-lock.sha256"
        )
        LOCKED_VERSIONS = drift.remembered_locked_versions(ACTIVE_LOCK)
        DRIFT_FOUND = drift.check(ACTIVE_LOCK, DRIFT_MODE, LOCKED_VERSIONS)
except ReprotrainError as error:
    # A config value may come from an overlay: name the file that gave it.
    if error.file == CONFIG_LABEL and error.field:
        error.file = config_file_of(error.field)
    raise WorkflowError(error.message) from None

# Every job checks its own environment against ACTIVE_LOCK, and its numerics against the
# pin (reprotrain.rules.run_step). The pin's variables replace whatever the shell set.
os.environ.update(
    REPROTRAIN_LOCK=ACTIVE_LOCK,
    REPROTRAIN_DRIFT=DRIFT_MODE,
    REPROTRAIN_NUMERICS=NUMERICS.to_json() if NUMERICS else "null",
    **(NUMERICS.job_environment() if NUMERICS else {}),
)
# A param of the jobs that compute floats, so that changing the pin reruns them and the
# manifest lists the hardware among their outputs' inputs.
NUMERICS_PARAM = NUMERICS.to_json() if NUMERICS else "unpinned"

SEEDS = as_list(config["seed"])
MODELS = as_list(config["model"])


# Wildcards take only the configured values, so a path outside the run is no target.
wildcard_constraints:
    dataset="|".join(sorted({re.escape(name) for name, _ in DATA_VERSIONS})),
    version="|".join(sorted({re.escape(version) for _, version in DATA_VERSIONS})),
    seed="|".join(str(seed) for seed in SEEDS),
    model="|".join(MODELS),


# Everything a run makes goes under one directory (a sweep can have its own); logs and
# benchmarks of a non-default results directory go under logs/<results>/.
RESULTS = config["results"]
LOGS = "logs" if RESULTS == "results" else f"logs/{RESULTS}"
# One directory per (dataset version, seed) for the split, one per model below it.
SPLIT = "{dataset}/{version}/seed-{seed}"
SPLIT_MODEL = f"{SPLIT}/{{model}}"
RUN = f"{RESULTS}/runs/{SPLIT}"
OUT = {
    "train": f"{RUN}/data/train.npy",
    "test": f"{RUN}/data/test.npy",
    "data_record": f"{RUN}/data/data.json",
    "estimator": f"{RUN}/{{model}}/estimator.pkl",
    "training": f"{RUN}/{{model}}/training.json",
    "model": f"{RUN}/{{model}}/model.pkl",
    "card": f"{RUN}/{{model}}/model_card.json",
    "metrics": f"{RUN}/{{model}}/metrics.json",
    "roc": f"{RUN}/{{model}}/roc.svg",
    "confusion": f"{RUN}/{{model}}/confusion.svg",
    "environment": f"{RESULTS}/environment.json",
    "summary_table": f"{RESULTS}/summary/metrics.csv",
    "summary_html": f"{RESULTS}/summary/metrics.html",
    "comparison": f"{RESULTS}/summary/comparison.svg",
    "manifest": f"{RESULTS}/manifest.json",
    "checksum": f"{RESULTS}/checksum.json",
    "provenance": f"{RESULTS}/report/provenance.html",
}


def log_path(rule, wildcards=None):
    """logs/<rule>.log, or logs/<rule>/<wildcards>.log for a rule with wildcards."""
    return f"{LOGS}/{rule}/{wildcards}.log" if wildcards else f"{LOGS}/{rule}.log"


def benchmark_path(rule, wildcards=None):
    """Snakemake's timing of each job, beside the logs; benchmarks/run.py reads them."""
    if wildcards:
        return f"{LOGS}/benchmarks/{rule}/{wildcards}.tsv"
    return f"{LOGS}/benchmarks/{rule}.tsv"


# save's seal of model.pkl (signing.py): random per directory, so kept with the logs.
SEAL = f"{LOGS}/save/{SPLIT_MODEL}.seal"

SPLIT_OUTPUTS = ("train", "test", "data_record")
MODEL_OUTPUTS = ("model", "card", "metrics", "roc", "confusion")


def _combinations():
    for (name, version), data_version in DATA_VERSIONS.items():
        for seed in SEEDS:
            split = {"dataset": name, "version": version, "seed": seed}
            yield split, [split | {"model": model} for model in MODELS]


# Outputs whose bytes the manifest pins, each with the pattern and wildcards that
# made it. Logs and benchmarks are kept, not covered.
COVERED_WILDCARDS = {}
for split, runs in _combinations():
    for key in SPLIT_OUTPUTS:
        COVERED_WILDCARDS[OUT[key].format(**split)] = (key, split)
    for run in runs:
        for key in MODEL_OUTPUTS:
            COVERED_WILDCARDS[OUT[key].format(**run)] = (key, run)
ALL_RUNS = [run for _, runs in _combinations() for run in runs]
# The comparison is made only when there is something to compare: for one run it would
# restate metrics.json at the cost of a job (benchmarks/README.md).
SUMMARY_OUTPUTS = ("summary_table", "summary_html", "comparison")
for key in ("environment", *(SUMMARY_OUTPUTS if len(ALL_RUNS) > 1 else ())):
    COVERED_WILDCARDS[OUT[key]] = (key, {})
COVERED = list(COVERED_WILDCARDS)
ALL_METRICS = [OUT["metrics"].format(**run) for run in ALL_RUNS]
# Outputs a run leaves that are deliberately not covered (`reprotrain verify` knows them),
# and the report `make report` writes.
UNCOVERED = [
    OUT["manifest"],
    OUT["checksum"],
    OUT["provenance"],
    f"{RESULTS}/report.html",
]
LOCKS = {ACTIVE_LOCK, CONDA_LOCK, PIP_LOCK}


def data_version_of(wildcards):
    return DATA_VERSIONS[(wildcards.dataset, wildcards.version)]


def target_of(wildcards):
    return data_version_of(wildcards).dataset.schema.target


def hyperparameters_of(wildcards):
    return config["models"].get(wildcards.model, {})


def params_digest(wildcards):
    """Every parameter that can change one model's bytes; not the data version (that is
    data, recorded on its own), not threads or thresholds (they change no bytes)."""
    return digest_value(
        {
            "seed": int(wildcards.seed),
            "split": config["split"],
            "model": wildcards.model,
            "hyperparameters": hyperparameters_of(wildcards),
        }
    )


# The run's provenance: every data version, the whole sweep's parameters and code.
DATA_PROVENANCE = {
    f"{name}/{version}": {
        "kind": data_version.dataset.kind,
        "source": data_version.dataset.source,
        "rows": data_version.rows,
        "sha256": data_version.digest,
    }
    for (name, version), data_version in DATA_VERSIONS.items()
}
# Everything the driver computes params from besides the code: a param that changes while
# this and the code stay the same was computed nondeterministically (reprotrain diff).
CONFIG_DIGEST = digest_value({"config": config, "registry": REGISTRY})
PARAMS_DIGEST = digest_value(
    {
        "seeds": SEEDS,
        "split": config["split"],
        "models": {model: config["models"].get(model, {}) for model in MODELS},
    }
)


def rule_code(rules_file, script):
    """A rule's `code` param: editing its rules file, script or imported modules reruns it.

    Remembered per CODE_DIGEST, which covers every file the digest can read."""
    return MEMO(
        provenance.rule_code_digest,
        str(REPO),
        f"workflow/rules/{rules_file}",
        f"workflow/scripts/{script}",
    )


def raw_data(wildcards):
    """The raw table file of a file dataset; a synthetic one is generated in preprocess."""
    dataset = data_version_of(wildcards).dataset
    if dataset.kind == "synthetic":
        return []
    if dataset.is_url:
        return storage.http(dataset.source)
    return dataset.source


def recorded_manifest(wildcards):
    """The recorded manifest as an input when it exists, so recording reruns checksum."""
    expected = config["manifest"]["expected"]
    return [expected] if Path(expected).is_file() else []


def _evaluate(item, wildcards):
    """A rule's input or param item for concrete wildcards, as Snakemake would see it."""
    if callable(item):
        return item(Wildcards(fromdict=wildcards))
    if isinstance(item, str):
        return apply_wildcards(item, wildcards)
    return item


# Outputs made from some of their rule's inputs only: save copies the trained pickle into
# model.pkl byte for byte; the data and environment records go into the card alone.
MADE_FROM = {OUT["model"]: ("estimator",)}


def _recipe(pattern, wildcards, producers):
    """Rule, inputs, params and code of one output, looking through uncovered intermediates."""
    name = producers[pattern]
    proxy = getattr(rules, name)
    made_from = MADE_FROM.get(pattern)
    rule_inputs = (
        [getattr(proxy.input, key) for key in made_from] if made_from else proxy.input
    )
    params = {key: _evaluate(value, wildcards) for key, value in proxy.params.items()}
    # Params named `code` or `*_code` carry code digests, not parameters; `*_path` and
    # `*_wildcards` ones are made of wildcards, which the inputs' digests already hold;
    # `*_record` ones are what the recorded manifest says, checked by the job, not used.
    code = {
        f"{name}.{key}": params.pop(key)
        for key in list(params)
        if key == "code" or key.endswith("_code")
    }
    for key in [
        key for key in params if key.endswith(("_path", "_wildcards", "_record"))
    ]:
        del params[key]
    inputs = {}
    data_version = None
    if "dataset" in wildcards:
        data_version = data_version_of(Wildcards(fromdict=wildcards))
        dataset_input = {"kind": "data", "sha256": data_version.input_digest}
    raw = raw_data(Wildcards(fromdict=wildcards)) if data_version else None
    raw = str(raw) if raw else None
    # Params that stand for inputs: the data version and the installed software.
    if params.pop("dataset", None) is not None:
        inputs["dataset"] = dataset_input
    if (installed := params.pop("installed", None)) is not None:
        inputs["installed packages"] = {"kind": "environment", "sha256": installed}
    # The numerics the job ran with; the manifest job fills in their digest.
    if params.pop("numerics", None) is not None:
        inputs["hardware"] = {"kind": "hardware"}
    # The software the job used; the manifest job reads its record (drift.packages_used).
    inputs[f"packages used by {name}"] = {
        "kind": "environment",
        "record": drift.packages_record_path(_evaluate(proxy.log[0], wildcards)),
    }
    params = {name: params}
    for item in rule_inputs:
        value = _evaluate(item, wildcards)
        for file in map(str, [value] if isinstance(value, str) else value):
            if file in COVERED_WILDCARDS:
                inputs[file] = {"kind": "output"}
            elif isinstance(item, str) and str(item) in producers:
                upstream = _recipe(str(item), wildcards, producers)
                inputs |= upstream["inputs"]
                params |= upstream["params"]
                code |= upstream["code"]
            elif file in LOCKS:
                inputs[file] = {"kind": "environment"}
            elif file == raw:
                inputs["dataset"] = dataset_input
            else:
                inputs[file] = {"kind": "file"}
    return {"rule": name, "inputs": inputs, "params": params, "code": code}


def _producers():
    return {
        str(output): rule.name
        for rule in workflow.rules
        for output in getattr(rules, rule.name).output
    }


@functools.cache
def _active_lock_sha256():
    return sha256_file(ACTIVE_LOCK)


def recorded_model_sha256(wildcards):
    """model.pkl's sha256 in the recorded manifest when that record is of this very recipe:
    the same params, code and data, the same lock with no drift, the same pinned numerics.
    validate then unpickles those bytes and no others; None when no record applies."""
    if RECORDED is None or NUMERICS is None or (not USE_CONDA and DRIFT_FOUND):
        return None
    values = dict(wildcards.items())
    entry = RECORDED["files"].get(apply_wildcards(OUT["model"], values))
    environment = RECORDED["provenance"].get("environment") or {}
    hardware = environment.get("hardware") or {}
    pinned = {"blas_kernel": NUMERICS.blas_kernel, "simd": NUMERICS.simd}
    if (
        entry is None
        or environment.get("drift")
        or environment.get("lock")
        != {"path": ACTIVE_LOCK, "sha256": _active_lock_sha256()}
        or hardware.get("machine") != NUMERICS.machine
        or hardware.get("pin") != pinned
    ):
        return None
    recipe = _recipe(OUT["model"], values, _producers())
    if (
        digest_value(recipe["params"]) != entry["params_digest"]
        or digest_value(recipe["code"]) != entry["code_digest"]
    ):
        return None
    for name, item in recipe["inputs"].items():
        if (
            item["kind"] == "data"
            and entry["inputs"].get(name, {}).get("sha256") != item["sha256"]
        ):
            return None
    return entry["sha256"]


def output_recipes(wildcards):
    """For each covered output: the rule that made it and what it was made from."""
    producers = _producers()
    recipes = {}
    for path, (key, output_wildcards) in COVERED_WILDCARDS.items():
        recipe = _recipe(OUT[key], output_wildcards, producers)
        recipes[path] = {
            "rule": recipe["rule"],
            "pattern": OUT[key],
            "inputs": recipe["inputs"],
            "params_digest": digest_value(recipe["params"]),
            "code_digest": digest_value(recipe["code"]),
        }
    return recipes


@functools.cache
def _reconcile_last_run():
    executing = workflow.executor_plugin is not None and not workflow.dryrun
    stale = audit.reconcile(
        OUT["manifest"], OUT["checksum"], RECORDED, config["manifest"]["expected"]
    )
    for note in stale.notes:
        logger.warning(f"reprotrain: last run: {note}")
    for path in stale.remove:
        if executing:
            Path(path).unlink()
            logger.warning(f"reprotrain: removed {path}: it is made again")
        else:
            logger.warning(f"reprotrain: a run would remove {path} and make it again")


def last_run_checked(wildcards):
    """An input function of the first jobs of a run (it adds no input): the last run's
    outputs are checked by their bytes before Snakemake judges them by their mtimes. A
    covered output that is missing or was changed is made again, and a verdict that no
    longer holds is redone (reprotrain.audit.reconcile). It runs while Snakemake builds
    the DAG, when a dry run is known to be one (it then only says), and in the driver
    alone, which holds the run lock."""
    if workflow.is_main_process:
        _reconcile_last_run()
    return []
