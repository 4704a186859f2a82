# Shared set-up: the package on the path, the resolved dataset, output paths, digests.

import os
import sys
from dataclasses import asdict
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod

REPO = Path(workflow.basedir)
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
    drift,
    locks,
    manifest,
    provenance,
    registry,
    runlock,
    schema,
)  # noqa: E402
from reprotrain.errors import ReprotrainError  # noqa: E402
from reprotrain.hashing import digest_value  # noqa: E402

ENV_FILE = "../../envs/environment.yaml"
CONDA_SPEC = "envs/environment.yaml"
CONDA_LOCK = "envs/conda-lock.yml"
PIP_LOCK = "envs/requirements.lock"
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
# The lock that pins the software the rules actually run with.
ACTIVE_LOCK = (
    f"envs/environment.{locks.conda_subdir()}.pin.txt" if USE_CONDA else PIP_LOCK
)

# Every bad input stops the run here, before any job, with one message naming the
# file, the field and the fix.
try:
    schema.check(
        config, REPO / "workflow/schemas/config.schema.yaml", "config/config.yaml"
    )
    validate(config, "../schemas/config.schema.yaml")
    REGISTRY = registry.load_yaml(config["registry"], "dataset registry")
    schema.check(
        REGISTRY, REPO / "workflow/schemas/datasets.schema.yaml", config["registry"]
    )
    validate(REGISTRY, "../schemas/datasets.schema.yaml")
    DATASET = registry.resolve(
        REGISTRY,
        config["dataset"]["name"],
        config["dataset"]["version"],
        config["registry"],
    )
    ROWS = registry.check_rows(
        DATASET, config["dataset"].get("rows"), "config/config.yaml"
    )
    registry.check_source_exists(DATASET, config["registry"])
    _conda_lock = locks.load_conda_lock(CONDA_LOCK)
    locks.check_spec_is_locked(CONDA_SPEC, _conda_lock, CONDA_LOCK)
    locks.check_pin_files(_conda_lock, CONDA_LOCK, "envs")
    locks.load_pip_lock(PIP_LOCK)
    if Path(config["manifest"]["expected"]).exists():
        manifest.load(config["manifest"]["expected"], "recorded manifest")
    DRIFT_MODE = config["environment_drift"]
    # Without conda the rules run in this very interpreter: check it now.
    if not USE_CONDA:
        locks.check_installed_from(
            PIP_LOCK, Path(sys.prefix) / "reprotrain-installed-lock.sha256"
        )
        drift.check(ACTIVE_LOCK, DRIFT_MODE)
except ReprotrainError as error:
    raise WorkflowError(error.message) from None

# Every job checks its own environment against ACTIVE_LOCK (reprotrain.rules.run_step).
os.environ.update(REPROTRAIN_LOCK=ACTIVE_LOCK, REPROTRAIN_DRIFT=DRIFT_MODE)

OUT = {
    "raw_synthetic": f"results/raw/{DATASET.name}/{DATASET.version}/rows-{ROWS}.csv",
    "train": "results/data/train.csv",
    "test": "results/data/test.csv",
    "data_record": "results/data/data.json",
    "estimator": "results/train/estimator.pkl",
    "training": "results/train/training.json",
    "environment": "results/environment.json",
    "model": "results/model/model.pkl",
    "card": "results/model/model_card.json",
    "metrics": "results/metrics/metrics.json",
    "manifest": "results/manifest.json",
    "checksum": "results/checksum.json",
}
# Outputs whose bytes the manifest pins. Logs and benchmarks are kept, not covered.
COVERED = [
    OUT[key]
    for key in (
        "train",
        "test",
        "data_record",
        "environment",
        "model",
        "card",
        "metrics",
    )
] + ([OUT["raw_synthetic"]] if DATASET.kind == "synthetic" else [])
# Outputs a run leaves that are deliberately not covered (`reprotrain verify` knows them).
UNCOVERED = [OUT["manifest"], OUT["checksum"]]
LOCKS = {ACTIVE_LOCK, CONDA_LOCK, PIP_LOCK}

# The dataset version as one input: a file's pinned sha256, or the generator's spec.
DATASET_DIGEST = (
    DATASET.sha256
    if DATASET.kind == "file"
    else digest_value(asdict(DATASET) | {"rows": ROWS})
)

# Every parameter that can change an output's bytes; not the data version (that is
# data, recorded on its own), not threads or thresholds (they change no bytes).
PARAMS_DIGEST = digest_value(
    {
        "seed": config["seed"],
        "split": config["split"],
        "model": config["model"],
        "hyperparameters": config["models"].get(config["model"], {}),
    }
)
# The whole workflow's code, for the run's provenance.
CODE_DIGEST = provenance.code_digest(REPO)


def rule_code(rules_file, script):
    """A rule's `code` param: editing its rules file, script or imported modules reruns it."""
    return provenance.rule_code_digest(
        REPO, f"workflow/rules/{rules_file}", f"workflow/scripts/{script}"
    )


def raw_data(wildcards):
    if DATASET.kind == "synthetic":
        return OUT["raw_synthetic"]
    if DATASET.is_url:
        return storage.http(DATASET.source)
    return DATASET.source


def recorded_manifest(wildcards):
    """The recorded manifest as an input when it exists, so recording reruns checksum."""
    expected = config["manifest"]["expected"]
    return [expected] if Path(expected).is_file() else []


def _inputs_of(proxy, wildcards):
    files = []
    for item in proxy.input:
        value = item(wildcards) if callable(item) else item
        files.extend([value] if isinstance(value, str) else value)
    return [str(file) for file in files]


def _recipe(path, wildcards, producers):
    """Rule, inputs, params and code of one output, looking through uncovered intermediates."""
    name = producers[path]
    proxy = getattr(rules, name)
    params = dict(proxy.params.items())
    # Params named `code` or `*_code` carry code digests, not parameters.
    code = {
        f"{name}.{key}": params.pop(key)
        for key in list(params)
        if key == "code" or key.endswith("_code")
    }
    inputs = {}
    # Params that stand for inputs: the data version and the installed software.
    if params.pop("dataset", None) is not None:
        inputs["dataset"] = {"kind": "data", "sha256": DATASET_DIGEST}
    if (installed := params.pop("installed", None)) is not None:
        inputs["installed packages"] = {"kind": "environment", "sha256": installed}
    params = {name: params}
    raw = str(raw_data(wildcards))
    for file in _inputs_of(proxy, wildcards):
        if file in COVERED:
            inputs[file] = {"kind": "output"}
        elif file == raw:
            inputs["dataset"] = {"kind": "data", "sha256": DATASET_DIGEST}
        elif file in producers:
            upstream = _recipe(file, wildcards, producers)
            inputs |= upstream["inputs"]
            params |= upstream["params"]
            code |= upstream["code"]
        else:
            inputs[file] = {"kind": "environment" if file in LOCKS else "file"}
    return {"rule": name, "inputs": inputs, "params": params, "code": code}


def output_recipes(wildcards):
    """For each covered output: the rule that made it and what it was made from."""
    producers = {
        str(output): rule.name
        for rule in workflow.rules
        for output in getattr(rules, rule.name).output
    }
    recipes = {}
    for path in COVERED:
        recipe = _recipe(path, wildcards, producers)
        recipes[path] = {
            "rule": recipe["rule"],
            "inputs": recipe["inputs"],
            "params_digest": digest_value(recipe["params"]),
            "code_digest": digest_value(recipe["code"]),
        }
    return recipes


onstart:
    # One run per directory; released by the kernel even when the run is killed -9.
    try:
        runlock.acquire(".snakemake/reprotrain-run.lock")
    except ReprotrainError as error:
        raise WorkflowError(error.message) from None
