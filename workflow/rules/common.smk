# Bootstrap and validation: the reprotrain package on the path, then every input checked.

import atexit
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
from io import BytesIO
from pathlib import Path

from snakemake import __version__ as snakemake_version
from snakemake.deployment.conda import MIN_CONDA_VER
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.sourcecache import LocalSourceFile
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# In an exported module tree: the commit it was exported from (git has no other record there).
SOURCE_COMMIT_FILE = ".reprotrain-commit"


def workflow_source_root(rules_dir):
    """The workflow's own source tree (its package, locks, schemas and embedded data):
    the repository this file is in, or, for a module fetched from a git host, an
    export of the fetched commit under .snakemake/ (Snakemake keeps only a bare clone).
    """
    if isinstance(rules_dir, LocalSourceFile):
        return Path(rules_dir.get_path_or_uri(secret_free=True)).parents[1]
    repo = rules_dir.hosted_repo
    commit = repo.repo.git.rev_parse(f"{rules_dir.ref}^{{commit}}")
    root = Path(".snakemake/reprotrain-source", commit).resolve()
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "--git-dir", str(repo.repo_clone), "archive", commit],
            capture_output=True,
            check=True,
        ).stdout
        staging = tempfile.mkdtemp(dir=root.parent)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(staging, filter="data")
        Path(staging, SOURCE_COMMIT_FILE).write_text(f"{commit}\n", encoding="utf-8")
        os.replace(staging, root)
    return root


# From this file's own location, so that the workflow runs as a module of another one,
# from any working directory.
REPO = workflow_source_root(workflow.current_basedir)
# Snakemake logs to .snakemake/log/: on a full disk, our one message must not end in a
# "Logging error" traceback of that handler.
logging.raiseExceptions = False
# The Snakefile and every rule job import the package from the workflow's source tree,
# whether they run in the pip-locked venv or in a conda env built from envs/.
sys.path.insert(0, str(REPO / "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
    ),
)

from reprotrain import datasets, fileio, memo, source_tree, yamlfile  # noqa: E402
from reprotrain.audit import verify  # noqa: E402
from reprotrain.driver import config_schema, runlock  # noqa: E402
from reprotrain.environment import drift, jobenv, lockfiles, numerics  # noqa: E402
from reprotrain.errors import ReprotrainError  # noqa: E402
from reprotrain.hashing import digest_value, sha256_file  # noqa: E402
from reprotrain.ml import evaluate, model_types  # noqa: E402
from reprotrain.records import manifest, provenance, signing  # noqa: E402
from reprotrain.steps import worker  # noqa: E402


def in_source(name):
    """A file of the workflow's source tree by its repository path (the name records use),
    as a path from the working directory: that very name when run from the repository.
    """
    return name if REPO == Path.cwd().resolve() else str(REPO / name)


ENV_FILE = "../../envs/environment.yaml"
CONDA_SPEC = "envs/environment.yaml"
CONDA_LOCK = "envs/conda-lock.yml"
PIP_LOCK = "envs/requirements.lock"
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
# The lock that pins the software the rules actually run with.
ACTIVE_LOCK = (
    f"envs/environment.{lockfiles.conda_subdir()}.pin.txt" if USE_CONDA else PIP_LOCK
)
# Each lock where it is read -> its repository path, the name records give it.
LOCKS = {in_source(name): name for name in (ACTIVE_LOCK, CONDA_LOCK, PIP_LOCK)}


def as_list(value):
    """A config value that may be one item or a list of them (a sweep)."""
    return value if isinstance(value, list) else [value]


# What depends only on bytes is checked once per version of those bytes and of the
# code: a no-op rerun costs what Snakemake itself costs (reprotrain/memo.py).
MEMO = memo.Memo(
    memo.STORE,
    salt={
        "snakemake": snakemake_version,
        "python": sys.version,
        "platform": sysconfig.get_platform(),
    },
)
# The code that makes the outputs, as one digest of what it means (recorded in the
# manifest), remembered per version of its files' bytes.
CODE_DIGEST = MEMO(
    provenance.code_digest, str(REPO), files=source_tree.code_files(REPO, absolute=True)
)
MEMO = MEMO.salted(code=CODE_DIGEST)


# What the schema files leave to code: the config's model types come from the registry.
SCHEMA_COMPLETIONS = {"config.schema.yaml": model_types.config_schema}


def check_against_schema(document, schema_name, label, sources=()):
    """reprotrain's one clear message first, then Snakemake's own validate()."""
    config_schema.check(
        document,
        REPO / "workflow/schemas" / schema_name,
        label,
        sources,
        SCHEMA_COMPLETIONS.get(schema_name),
    )
    validate(document, f"../schemas/{schema_name}")


CONFIG_LABEL = yamlfile.CONFIG_LABEL


def config_file_of(field):
    """The config file that gives ``field``: where a message about it should point."""
    return yamlfile.config_file_of(CONFIG_FILES, field)


# Modules of the user's own (a custom estimator): config `user_code`, else user/.
USER_CODE = config.get("user_code", "user")
# The config files in the order they override each other: the Snakefile's configfile,
# then each --configfile.
CONFIG_FILES = []
# Every bad input stops the run here, before any job, with one message naming the
# file, the field and the fix.
try:
    # Only ways of running that give the locked environment (--containerize is a Snakemake
    # mode the workflow only sees on the command line).
    lockfiles.check_deployment(
        in_source(CONDA_SPEC),
        USE_CONDA,
        "--containerize" in sys.argv,
        shutil.which("conda"),
        MIN_CONDA_VER,
    )
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
    REGISTRY = datasets.load_yaml(config["registry"], "dataset registry")
    MEMO(check_against_schema, REGISTRY, "datasets.schema.yaml", config["registry"])
    MEMO(
        datasets.check_schemas,
        REGISTRY,
        config["registry"],
        files=[config["registry"]],
    )
    # (name, version) -> DataVersion, in config order.
    DATA_VERSIONS = {}
    for index, entry in enumerate(as_list(config["dataset"])):
        field = (
            f"dataset[{index}]" if isinstance(config["dataset"], list) else "dataset"
        )
        dataset = datasets.resolve(
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
        rows = datasets.check_rows(dataset, entry.get("rows"), CONFIG_LABEL, field)
        location = datasets.source_location(dataset, REPO, config["registry"])
        DATA_VERSIONS[key] = datasets.DataVersion(dataset, rows, location)
    MEMO(
        lockfiles.check_locks,
        in_source(CONDA_SPEC),
        in_source(CONDA_LOCK),
        in_source("envs"),
        in_source(PIP_LOCK),
        files=[
            in_source(CONDA_SPEC),
            in_source(CONDA_LOCK),
            in_source(PIP_LOCK),
            *sorted(Path(in_source("envs")).glob("*.pin.txt")),
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
    # Whether checksum fails on any difference, the environment record's included.
    STRICT = config["manifest"].get("strict", False)
    DRIFT_MODE = config["environment_drift"]
    # One kind of task per dataset name (a rule per kind makes its figures), and each
    # dataset's own thresholds of its kind.
    TASK_KINDS = datasets.task_kinds(DATA_VERSIONS, config["registry"])
    evaluate.check_dataset_thresholds(
        config["thresholds"].get("by_dataset", {}),
        datasets.kinds_of(REGISTRY),
        CONFIG_LABEL,
    )
    # Each model a run trains builds: a preset, or a custom estimator whose import and
    # params are checked now (importing scikit-learn only then).
    model_types.check_models(
        as_list(config["model"]),
        config["models"],
        CONFIG_LABEL,
        USER_CODE,
        {kind: name for name, kind in sorted(TASK_KINDS.items(), reverse=True)},
    )
    # The numerics every job uses, checked against this CPU before any job (and again
    # on every SLURM node, where each job parses this file too).
    NUMERICS = numerics.pin_from_config(config["numerics"], CONFIG_LABEL)
    numerics.check_host(NUMERICS, CONFIG_LABEL)
    # Without conda the rules run in this very interpreter: check it now.
    if not USE_CONDA:
        lockfiles.check_installed_from(
            in_source(PIP_LOCK), Path(sys.prefix) / "reprotrain-installed-lock.sha256"
        )
        LOCKED_VERSIONS = drift.remembered_locked_versions(in_source(ACTIVE_LOCK))
        DRIFT_FOUND = drift.check(in_source(ACTIVE_LOCK), DRIFT_MODE, LOCKED_VERSIONS)
except ReprotrainError as error:
    # A config value may come from an overlay: name the file that gave it.
    if error.file == CONFIG_LABEL and error.field:
        error.file = config_file_of(error.field)
    raise WorkflowError(error.message) from None

# Every job's environment is built, not inherited: whatever the shell exports that can
# change what a job computes or formats is removed, and the pin sets its own (jobenv).
JOB_ENVIRONMENT = jobenv.build(
    os.environ,
    jobenv.Settings.from_config(config["job_environment"]),
    NUMERICS.job_environment() if NUMERICS else None,
)
os.environ.clear()
os.environ.update(JOB_ENVIRONMENT)
# Every job checks its own environment against ACTIVE_LOCK, and its numerics against the
# pin (reprotrain.steps.entry.run_step).
os.environ.update(
    REPROTRAIN_USER_CODE=str(Path(USER_CODE).resolve()),
    # A job's message about a config key names the file that gave it (rules.run_step).
    REPROTRAIN_CONFIG_FILES=json.dumps(CONFIG_FILES),
    REPROTRAIN_LOCK=in_source(ACTIVE_LOCK),
    REPROTRAIN_DRIFT=DRIFT_MODE,
    REPROTRAIN_NUMERICS=NUMERICS.to_json() if NUMERICS else "null",
)
# Each job's step runs in a fork of this run's warm worker for that step, which has the
# step's imports done once (reprotrain.steps.worker). The workers belong to this process: they
# end when it does, and it stops them at the end of the run.
WORKER_DIRECTORY = worker.directory()
worker.remove_leftovers(WORKER_DIRECTORY)
os.environ.update(
    REPROTRAIN_RUN=str(os.getpid()),
    REPROTRAIN_WORKER_DIR=str(WORKER_DIRECTORY or ""),
)


def end_of_run():
    """Stop this run's workers, and the timer threads Snakemake's job rate limiter starts
    at the end of every scheduling pass (the default profile counts its limit over 100 s,
    so that these passes do not pile up with the number of jobs): with nothing left to
    schedule, they need not keep the process alive for up to 100 s at exit."""
    worker.stop_workers(os.getpid(), WORKER_DIRECTORY)
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


# Run when the main thread is done, before the interpreter waits for the other threads
# (onsuccess and onerror are not run for a workflow used as a module, as this one is);
# where Python lacks the hook, at exit after them.
getattr(threading, "_register_atexit", atexit.register)(end_of_run)


# A param of the jobs that compute floats, so that changing the pin reruns them and the
# manifest lists the hardware among their outputs' inputs.
NUMERICS_PARAM = NUMERICS.to_json() if NUMERICS else "unpinned"
