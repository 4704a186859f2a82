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

from reprotrain import locks, provenance, registry  # noqa: E402
from reprotrain.errors import ReprotrainError  # noqa: E402
from reprotrain.hashing import digest_value  # noqa: E402

ENV_FILE = "../../envs/environment.yaml"
CONDA_LOCK = "envs/conda-lock.yml"
PIP_LOCK = "envs/requirements.lock"
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
# The lock that pins the software the rules actually run with.
ACTIVE_LOCK = (
    f"envs/environment.{locks.conda_subdir()}.pin.txt" if USE_CONDA else PIP_LOCK
)

try:
    REGISTRY = registry.load_yaml(config["registry"], "dataset registry")
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
except ReprotrainError as error:
    raise WorkflowError(error.message) from None

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

# Everything in the config that can change an output's bytes (not threads, not thresholds).
PARAMS_DIGEST = digest_value(
    {
        "dataset": asdict(DATASET) | {"rows": ROWS},
        "seed": config["seed"],
        "split": config["split"],
        "model": config["model"],
        "hyperparameters": config["models"].get(config["model"], {}),
    }
)
# Any edit to the workflow or the package reruns every step (a `code` param).
CODE_DIGEST = provenance.code_digest(REPO)


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
