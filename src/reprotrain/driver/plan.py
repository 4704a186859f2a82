"""The run's plan: everything the driver decides before any job, as one frozen object.

``make_plan`` turns the config (with the files it came from), the dataset registry, the
workflow's source tree and how Snakemake was invoked (``Invocation``, which the Snakefile
reads through reprotrain.driver.snakemake_adapter) into a ``Plan``: the layout, the data
versions, each job's params, the provenance of the run, the numerics pin and the job
environment. Every bad input is a ReprotrainError naming the file, the field and the fix,
raised here, before any job. It reads files (the config files, the registry, the locks,
the recorded manifest, the installed packages' metadata) and writes only its cache of
checks remembered by bytes (reprotrain.memo): no Snakemake, no lock taken, no environment
changed (that is reprotrain.driver.start), so each refusal is a unit test.

Standard library only at import (the model checks import scikit-learn in a subprocess).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprotrain import datasets, fileio, layout, memo, source_tree, yamlfile
from reprotrain.driver import config_schema
from reprotrain.environment import drift, jobenv, lockfiles, named, numerics
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value
from reprotrain.ml import evaluate, model_types
from reprotrain.records import manifest, provenance
from reprotrain.records.types import Manifest

CONFIG_LABEL = yamlfile.CONFIG_LABEL
CONDA_SPEC = "envs/environment.yaml"
CONDA_LOCK = "envs/conda-lock.yml"
PIP_LOCK = "envs/requirements.lock"
# What the schema files leave to code: the config's model types come from the registry.
SCHEMA_COMPLETIONS = {"config.schema.yaml": model_types.config_schema}
# Which of the two scoring rules (both make metrics.json) serves each kind of task.
VALIDATE_RULE = {"classification": "validate", "regression": "validate_regression"}


@dataclass(frozen=True)
class Invocation:
    """What the plan needs of the process it is made in: how Snakemake was invoked and
    where things are. The Snakefile fills it through the adapter; tests by hand."""

    repo: Path  # the workflow's own source tree
    config_files: tuple[str, ...]  # in the order they override each other
    cwd: Path = field(default_factory=lambda: Path.cwd().resolve())
    snakemake_version: str = "unknown"
    use_conda: bool = False
    containerize: bool = False
    local_cores: int | None = None  # --cores for local jobs; None on a cluster
    conda_executable: str | None = None  # the conda on PATH
    min_conda: str = "24.7.1"
    # The venv the rules run in without conda, and its record of the lock it holds.
    prefix: Path | None = None
    # Validates against a schema as Snakemake's validate() does (a second opinion).
    validate: Callable[[Any, str], None] | None = None
    # The values --config gave (on the command line, or a profile's `config:`), which
    # override the config files: messages about them name --config.
    config_overrides: Mapping[str, Any] = field(default_factory=dict)


def as_list(value: Any) -> list[Any]:
    """A config value that may be one item or a list of them (a sweep)."""
    return value if isinstance(value, list) else [value]


# Compared and hashed by identity: a run has one plan.
@dataclass(frozen=True, eq=False)
class Plan:
    """One run, decided: what it makes, from what, with which params and environment."""

    config: Mapping[str, Any]
    repo: Path
    cwd: Path
    config_files: tuple[str, ...]
    config_overrides: Mapping[str, Any]
    user_code: str
    use_conda: bool
    active_lock: str  # the lock that pins what the rules run with (its repository path)
    registry: Mapping[str, Any]
    data_versions: Mapping[tuple[str, str], datasets.DataVersion]
    task_kinds: Mapping[str, str]
    recorded: Manifest | None
    public_key: str | None
    strict: bool
    drift_mode: str
    numerics: numerics.Pin | None
    locked_versions: Mapping[str, str] | None  # without conda: what the lock pins here
    drift_found: tuple[drift.Drift, ...]
    code_digest: str
    code_version: Mapping[str, Any]
    model_job_threads: int
    # The named environment each model of the run runs in (reprotrain.environment.named;
    # the base one is absent), and how a job enters each.
    model_environments: Mapping[str, str]
    environments: Mapping[str, named.JobEnvironment]
    layout: layout.Layout = field(repr=False)
    remember: memo.Memo = field(repr=False)

    # --- where things are ---------------------------------------------------------------

    def in_source(self, name: str) -> str:
        return source_path(self.repo, self.cwd, name)

    def lock_inputs(self) -> dict[str, str]:
        """The locks as a rule reads them: the one in force, and both the records name."""
        return {
            "lock": self.in_source(self.active_lock),
            "conda_lock": self.in_source(CONDA_LOCK),
            "pip_lock": self.in_source(PIP_LOCK),
        }

    @property
    def locks(self) -> dict[str, str]:
        """Each lock where it is read -> its repository path, the name records give it
        (the named environments' too)."""
        names = (self.active_lock, CONDA_LOCK, PIP_LOCK, *self.environment_locks.values())
        return {self.in_source(name): name for name in names}

    @property
    def environment_locks(self) -> dict[str, str]:
        """Each named environment the run uses -> its lock in force (repository path)."""
        return {
            name: named.Environment(name).pin_file(lockfiles.conda_subdir())
            if self.use_conda
            else named.Environment(name).pip_lock
            for name in sorted(self.environments)
        }

    def model_job_environment(self, wildcards: Mapping[str, Any]) -> str | None:
        """A model job's `job_environment` param: how it enters its model's environment
        (None: the base one, which every job starts in)."""
        name = self.model_environments.get(wildcards["model"])
        return self.environments[name].to_json() if name else None

    def model_environment_lock(self, wildcards: Mapping[str, Any]) -> list[str]:
        """A model job's lock input: its named environment's lock, so that the records
        name it and a new lock reruns the model; none for the base environment."""
        name = self.model_environments.get(wildcards["model"])
        return [self.environments[name].lock] if name else []

    def named_environments(self) -> dict[str, dict[str, Any]]:
        """Each named environment of the run -> its interpreter (None under conda) and its
        lock (as read, and by name), for the fingerprint."""
        names = self.environment_locks
        return {
            name: {"python": job.python, "lock": job.lock, "lock_name": names[name]}
            for name, job in sorted(self.environments.items())
        }

    def named_environment_locks(self) -> list[str]:
        """The locks of the named environments of the run, as read."""
        return [job.lock for _, job in sorted(self.environments.items())]

    @property
    def seeds(self) -> list[int]:
        return as_list(self.config["seed"])

    @property
    def models(self) -> list[str]:
        return as_list(self.config["model"])

    @property
    def expected(self) -> str:
        return self.config["manifest"]["expected"]

    # --- what Snakemake needs ----------------------------------------------------------

    def wildcard_constraints(self) -> dict[str, str]:
        """Wildcards take only the configured values, so a path outside the run is no
        target."""
        return {
            "dataset": "|".join(sorted({re.escape(name) for name, _ in self.data_versions})),
            "version": "|".join(sorted({re.escape(v) for _, v in self.data_versions})),
            "seed": "|".join(str(seed) for seed in self.seeds),
            "model": "|".join(self.models),
        }

    def names_of_kind(self, kind: str) -> str:
        """A wildcard constraint: the run's dataset names of one kind of task (or none)."""
        names = sorted(re.escape(name) for name, each in self.task_kinds.items() if each == kind)
        return "|".join(names) or "(?!)"

    def job_environment(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """Every job's environment: built from ``inherited``, never inherited whole
        (reprotrain.environment.jobenv), plus what each job checks itself against."""
        built = jobenv.build(
            inherited,
            jobenv.Settings.from_config(self.config["job_environment"]),
            self.numerics.job_environment() if self.numerics else None,
        )
        return built | {
            "REPROTRAIN_USER_CODE": str(Path(self.user_code).resolve()),
            # A job's message about a config key names the file that gave it.
            "REPROTRAIN_CONFIG_FILES": fileio.canonical_json(list(self.config_files)),
            "REPROTRAIN_CONFIG_COMMAND_LINE": fileio.canonical_json(self.config_overrides),
            jobenv.PASS_VARIABLE: fileio.canonical_json(
                self.config["job_environment"].get("pass", [])
            ),
            drift.LOCK_VARIABLE: self.in_source(self.active_lock),
            drift.MODE_VARIABLE: self.drift_mode,
            numerics.PIN_VARIABLE: self.numerics.to_json() if self.numerics else "null",
        }

    @property
    def numerics_param(self) -> str:
        """A param of the jobs that compute floats: changing the pin reruns them, and the
        manifest lists the hardware among their outputs' inputs."""
        return self.numerics.to_json() if self.numerics else "unpinned"

    # --- each job's params -------------------------------------------------------------

    def data_version(self, wildcards: Mapping[str, Any]) -> datasets.DataVersion:
        return self.data_versions[(wildcards["dataset"], wildcards["version"])]

    def schema(self, wildcards: Mapping[str, Any]) -> dict[str, Any]:
        """The table schema of the data version, as the jobs get it: one dict per data
        version, not one per job of a sweep."""
        return _schema_dict(self.data_version(wildcards).dataset.schema)

    def hyperparameters(self, wildcards: Mapping[str, Any]) -> dict[str, Any]:
        return self.config["models"].get(wildcards["model"], {})

    def preprocessing(self, wildcards: Mapping[str, Any]) -> dict[str, Any] | None:
        """Config `preprocessing` for a table the model must encode or impute; None for a
        table of numbers alone, whose models it changes nothing of."""
        if self.data_version(wildcards).dataset.schema.needs_column_transformer:
            return self.config["preprocessing"]
        return None

    def thresholds(self, wildcards: Mapping[str, Any]) -> dict[str, float]:
        """The bounds of this dataset's kind of task, with the dataset's own in force."""
        return evaluate.thresholds_for(
            self.data_version(wildcards).dataset.schema.task,
            self.config["thresholds"],
            self.config["thresholds"].get("by_dataset", {}).get(wildcards["dataset"]),
        )

    def threshold_fields(self, wildcards: Mapping[str, Any]) -> dict[str, str]:
        """The config field of each threshold in force: a missed one is named by it."""
        dataset = wildcards["dataset"]
        own = self.config["thresholds"].get("by_dataset", {}).get(dataset, {})
        return {
            key: f"thresholds.by_dataset.{dataset}.{key}" if key in own else f"thresholds.{key}"
            for key in self.thresholds(wildcards)
        }

    def params_digest(self, wildcards: Mapping[str, Any]) -> str:
        """Every parameter that can change one model's bytes; not the data version (that
        is data, recorded on its own), not threads or thresholds (they change no bytes)."""
        preprocessing = self.preprocessing(wildcards)
        return digest_value(
            {
                "seed": int(wildcards["seed"]),
                "split": self.config["split"],
                "model": wildcards["model"],
                "hyperparameters": self.hyperparameters(wildcards),
            }
            # Only where the model has a preprocessing step: other models' digests stay.
            | ({"preprocessing": preprocessing} if preprocessing else {})
        )

    def raw_location(self, wildcards: Mapping[str, Any]) -> str | None:
        """Where the raw table of a file dataset is (a path or a URL); None for a synthetic
        one, generated in preprocess."""
        return self.data_version(wildcards).location

    def recorded_manifest(self) -> list[str]:
        """The recorded manifest as an input when it exists, so recording reruns checksum."""
        return [self.expected] if Path(self.expected).is_file() else []

    # --- the run's provenance ----------------------------------------------------------

    @functools.cached_property
    def data_provenance(self) -> dict[str, Any]:
        """Every data version of the run, as the manifest records it."""
        return {
            f"{name}/{version}": {
                "kind": data_version.dataset.kind,
                "source": data_version.dataset.source,
                "rows": data_version.rows,
                "sha256": data_version.digest,
            }
            for (name, version), data_version in self.data_versions.items()
        }

    @functools.cached_property
    def config_digest(self) -> str:
        """Everything the driver computes params from besides the code: a param that
        changes while this and the code stay the same was computed nondeterministically."""
        return digest_value({"config": self.config, "registry": self.registry})

    @functools.cached_property
    def run_params_digest(self) -> str:
        return digest_value(
            {
                "seeds": self.seeds,
                "split": self.config["split"],
                "models": {model: self.config["models"].get(model, {}) for model in self.models},
            }
        )

    def installed_digest(self) -> str | None:
        """Without conda, the digest of what the venv holds: a hand-changed venv changes it
        and reruns the pipeline (under conda, the env is the pin file's)."""
        if self.use_conda or self.locked_versions is None:
            return None
        return drift.installed_digest(self.in_source(self.active_lock), self.locked_versions)

    def rule_code(self, rules_file: str, script: str) -> str:
        """A rule's `code` param: editing its rules file, script or imported modules reruns
        it. Remembered per code digest, which covers every file this one reads."""
        return self.remember(
            provenance.rule_code_digest,
            str(self.repo),
            f"workflow/rules/{rules_file}",
            f"workflow/scripts/{script}",
        )

    def model_code(self, rule_digest: str, model: str) -> str:
        """A model rule's code digest: its rule's, combined for a custom estimator from the
        user code directory with that code's digest. Editing a user module reruns (and
        re-records) only the runs that use it."""
        entry = self.config["models"].get(model) or {}
        if "estimator" not in entry:
            return rule_digest
        module_name, _ = model_types.split_import_path(entry["estimator"])
        user = provenance.user_module_digest(self.user_code, module_name)
        return rule_digest if user is None else digest_value([rule_digest, user])


def source_path(repo: Path, cwd: Path, name: str) -> str:
    """A file of the workflow's source tree by its repository path (the name records
    use), as a path from the working directory ``cwd``: that very name when run from the
    repository."""
    return name if repo == cwd else str(repo / name)


@functools.cache
def _schema_dict(schema: datasets.TableSchema) -> dict[str, Any]:
    return dataclasses.asdict(schema)


def model_job_threads(configured: int, local_cores: int | None, model_runs: int) -> int:
    """Threads of train and validate. On this machine, config `threads` is shared out among
    the run's model runs, so that independent jobs fit `--cores` side by side instead of
    queueing behind each other's threads (the bytes do not depend on threads). A cluster
    job has its node's cores to itself: config `threads` as it is."""
    if not local_cores:
        return configured
    return max(1, min(configured, local_cores // max(1, model_runs)))


def _check_output_places(results: str, user_code: str) -> None:
    """Where a run writes is a folder of reprotrain's (never .git, a tracked folder or the
    user's code), no link in it leads out, and user code is not where runs write: a
    module planted in results/ would be imported by the next run."""
    # The same folder for both: the one changed from its default is the one to blame.
    if user_code in {".snakemake", ".git"} or (user_code == results and user_code != "user"):
        raise ReprotrainError(
            CONFIG_LABEL,
            "user_code",
            f"{user_code} is where runs or git write their own files: a module planted "
            "there would be imported as your code",
            "keep your modules in a folder of the repository of their own, such as user",
        )
    fileio.check_output_directory(
        results,
        "results directory",
        file=CONFIG_LABEL,
        field="results",
        may_hold=layout.TOP_LEVEL,
        reserved=(user_code,),
    )
    for directory in (results, layout.Layout(results, ()).logs):
        fileio.check_tree_confined(directory)


def make_plan(config: Mapping[str, Any], invocation: Invocation) -> Plan:
    """The run's plan, or the ReprotrainError of the first bad input (its file being the
    config file that gave the value). Paths are relative to the working directory, which
    is the run's (Snakemake's --directory).

    What depends only on bytes is checked once per version of those bytes and of the
    code: a no-op rerun costs what Snakemake itself costs (reprotrain.memo)."""
    remember = memo.Memo(
        memo.STORE,
        salt={
            "snakemake": invocation.snakemake_version,
            "python": sys.version,
            "platform": sysconfig.get_platform(),
        },
    )
    # The code that makes the outputs, as one digest of what it means (recorded in the
    # manifest), remembered per version of its files' bytes.
    code_digest = remember(
        provenance.code_digest,
        str(invocation.repo),
        files=source_tree.code_files(invocation.repo, absolute=True),
    )
    remember = remember.salted(code=code_digest)
    # Snakemake parsed --config as YAML: a repeated alias there is one shared object,
    # refused before anything here walks the config (its digest would expand it).
    yamlfile.check_expansion(dict(invocation.config_overrides), yamlfile.COMMAND_LINE)
    config_files = _checked_config_files(invocation, remember)
    yamlfile.check_expansion(dict(config), CONFIG_LABEL)  # however it was merged
    try:
        return _plan(config, invocation, config_files, remember, code_digest)
    except ReprotrainError as error:
        # A config value may come from an overlay or --config: name where it was given.
        if error.file == CONFIG_LABEL and error.field:
            error.file = yamlfile.config_file_of(
                list(config_files), error.field, invocation.config_overrides
            )
        raise


def _checked_config_files(invocation: Invocation, remember: memo.Memo) -> tuple[str, ...]:
    """The config files, strictly, before anything walks the config they make (an alias
    can stand for a tree of any size; a duplicate key hides the first); as shown to users."""
    shown = []
    for configfile in dict.fromkeys(Path(f).resolve() for f in invocation.config_files):
        name = (
            os.path.relpath(configfile)
            if configfile.is_relative_to(Path.cwd())
            else str(configfile)
        )
        remember(yamlfile.check_file, name, "config file", files=[configfile])
        shown.append(name)
    return tuple(shown)


def _plan(
    config: Mapping[str, Any],
    invocation: Invocation,
    config_files: tuple[str, ...],
    remember: memo.Memo,
    code_digest: str,
) -> Plan:
    repo = invocation.repo
    source = functools.partial(source_path, repo, invocation.cwd)
    # Only ways of running that give the locked environment.
    lockfiles.check_deployment(
        source(CONDA_SPEC),
        invocation.use_conda,
        invocation.containerize,
        invocation.conda_executable,
        invocation.min_conda,
    )
    _check_against_schema(
        config, "config.schema.yaml", CONFIG_LABEL, invocation, remember, config_files
    )
    manifest.check_repository_path(
        config["registry"],
        "registry",
        config["results"],
        CONFIG_LABEL,
        "point registry at the dataset registry in the repository (config/datasets.yaml)",
    )
    registry = datasets.load_yaml(config["registry"], "dataset registry")
    _check_against_schema(
        registry,
        "datasets.schema.yaml",
        config["registry"],
        invocation,
        remember,
        [config["registry"]],
    )
    remember(datasets.check_schemas, registry, config["registry"], files=[config["registry"]])
    data_versions = _data_versions(config, registry, repo)
    remember(
        lockfiles.check_locks,
        source(CONDA_SPEC),
        source(CONDA_LOCK),
        source("envs"),
        source(PIP_LOCK),
        files=[
            source(CONDA_SPEC),
            source(CONDA_LOCK),
            source(PIP_LOCK),
            *sorted(Path(source("envs")).glob("*.pin.txt")),
        ],
    )
    manifest.check_recorded_path(config["manifest"]["expected"], config["results"], CONFIG_LABEL)
    manifest.check_results_directory(config["results"], CONFIG_LABEL)
    user_code = config.get("user_code", "user")
    _check_output_places(config["results"], user_code)
    for directory in (config["results"], "logs", ".snakemake"):
        fileio.check_writable(directory)
    # With a public key, only a record signed by its private key is trusted (signing.py).
    public_key = config["manifest"].get("public_key")
    if public_key is not None:
        manifest.check_repository_path(
            public_key,
            "manifest.public_key",
            config["results"],
            CONFIG_LABEL,
            "point manifest.public_key at the public key, in the repository, that the "
            "records are signed for (`reprotrain keygen` makes a pair)",
        )
    expected = config["manifest"]["expected"]
    recorded = (
        manifest.load(expected, "recorded manifest", public_key=public_key, remember=remember)
        if Path(expected).exists()
        else None
    )
    # One kind of task per dataset name (a rule per kind makes its figures), and each
    # dataset's own thresholds of its kind.
    task_kinds = datasets.task_kinds(data_versions, config["registry"])
    evaluate.check_dataset_thresholds(
        config["thresholds"].get("by_dataset", {}), datasets.kinds_of(registry), CONFIG_LABEL
    )
    models = as_list(config["model"])
    model_environments, environments = _environments(config, models, invocation, source)
    # Each model a run trains builds: a preset, or a custom estimator whose import and
    # params are checked in a subprocess of its environment (the driver never imports
    # scikit-learn).
    for environment in sorted({named.BASE, *model_environments.values()}):
        model_types.check_models_apart(
            [m for m in models if model_environments.get(m, named.BASE) == environment],
            config["models"],
            CONFIG_LABEL,
            user_code,
            {kind: name for name, kind in sorted(task_kinds.items(), reverse=True)},
            remember,
            python=environments[environment].python if environment in environments else None,
        )
    # The numerics every job uses, checked against this CPU before any job (and again
    # on every SLURM node, where each job makes the plan too).
    pin = numerics.pin_from_config(config["numerics"], CONFIG_LABEL)
    numerics.check_host(pin, CONFIG_LABEL)
    active_lock = (
        f"envs/environment.{lockfiles.conda_subdir()}.pin.txt" if invocation.use_conda else PIP_LOCK
    )
    locked_versions: Mapping[str, str] | None = None
    drift_found: tuple[drift.Drift, ...] = ()
    # Without conda the rules run in this very environment: check it now.
    if not invocation.use_conda and invocation.prefix is not None:
        lockfiles.check_installed_from(
            source(PIP_LOCK), invocation.prefix / "reprotrain-installed-lock.sha256"
        )
        locked_versions = drift.remembered_locked_versions(source(active_lock))
        drift_found = tuple(
            drift.check(source(active_lock), config["environment_drift"], locked_versions)
        )
    seeds = as_list(config["seed"])
    combinations = layout.combinations(
        data_versions,
        seeds,
        models,
        [key for key in data_versions if task_kinds[key[0]] == "regression"],
    )
    run_layout = layout.Layout(config["results"], tuple(combinations))
    return Plan(
        config=config,
        repo=repo,
        cwd=invocation.cwd,
        config_files=config_files,
        config_overrides=dict(invocation.config_overrides),
        user_code=user_code,
        use_conda=invocation.use_conda,
        active_lock=active_lock,
        registry=registry,
        data_versions=data_versions,
        task_kinds=task_kinds,
        recorded=recorded,
        public_key=public_key,
        strict=config["manifest"].get("strict", False),
        drift_mode=config["environment_drift"],
        numerics=pin,
        locked_versions=locked_versions,
        drift_found=drift_found,
        code_digest=code_digest,
        code_version=_code_version(repo),
        model_job_threads=model_job_threads(
            config["threads"], invocation.local_cores, len(run_layout.runs)
        ),
        model_environments=model_environments,
        environments=environments,
        layout=run_layout,
        remember=remember,
    )


def _environments(
    config: Mapping[str, Any],
    models: list[str],
    invocation: Invocation,
    source: Callable[[str], str],
) -> tuple[dict[str, str], dict[str, named.JobEnvironment]]:
    """Which model runs in which named environment, and how its jobs enter it: without
    conda, that environment's venv (made by `make setup`, holding its lock); under
    --use-conda, its pin file, which must exist."""
    chosen = {
        model: name
        for model in models
        if (name := named.of_model(config["models"].get(model))) != named.BASE
    }
    environments = {}
    for model, name in sorted(chosen.items()):
        if name in environments:
            continue
        field_ = f"models.{model}.environment"
        environment = named.check_defined(name, invocation.repo, CONFIG_LABEL, field_)
        if invocation.use_conda:
            pin_file = named.check_conda_lock(
                environment, invocation.repo, lockfiles.conda_subdir(), CONFIG_LABEL, field_
            )
            environments[name] = named.JobEnvironment(name, None, source(pin_file))
            continue
        base = invocation.prefix or Path(sys.prefix)
        venv = named.venv_of(base, name)
        python = venv / "bin" / "python"
        if not python.is_file():
            raise ReprotrainError(
                CONFIG_LABEL,
                field_,
                f"the environment {name} is not installed ({venv} has no interpreter)",
                "run `make setup` (it installs every environment of envs/ with "
                "--require-hashes), then rerun",
            )
        lockfiles.check_installed_from(
            source(environment.pip_lock), venv / "reprotrain-installed-lock.sha256"
        )
        environments[name] = named.JobEnvironment(name, str(python), source(environment.pip_lock))
    return chosen, environments


def _check_against_schema(
    document: Any,
    schema_name: str,
    label: str,
    invocation: Invocation,
    remember: memo.Memo,
    files: Sequence[str | Path],
) -> None:
    """reprotrain's one clear message first, then Snakemake's own validate(); both
    remembered per version of the document, the schema and this code."""
    schema = str(invocation.repo / "workflow/schemas" / schema_name)
    second_opinion = invocation.validate
    remember(
        check_schema,
        document,
        schema,
        schema_name,
        label,
        [str(f) for f in files] if label == CONFIG_LABEL else [],
        dict(invocation.config_overrides) if label == CONFIG_LABEL else None,
        files=[*files, schema],
        also=(lambda: second_opinion(document, schema)) if second_opinion else None,
    )


def check_schema(
    document: Any,
    schema: str,
    schema_name: str,
    label: str,
    sources: list[str],
    command_line: Mapping[str, Any] | None = None,
) -> None:
    """A document against one of the workflow's schemas (reprotrain.driver.config_schema),
    completed by code where the schema leaves it to code."""
    config_schema.check(
        document, schema, label, sources, SCHEMA_COMPLETIONS.get(schema_name), command_line
    )


def _data_versions(
    config: Mapping[str, Any], registry: Mapping[str, Any], repo: Path
) -> dict[tuple[str, str], datasets.DataVersion]:
    """(name, version) -> DataVersion, in config order."""
    found: dict[tuple[str, str], datasets.DataVersion] = {}
    for index, entry in enumerate(as_list(config["dataset"])):
        where = f"dataset[{index}]" if isinstance(config["dataset"], list) else "dataset"
        dataset = datasets.resolve(registry, entry["name"], entry["version"], config["registry"])
        key = (dataset.name, dataset.version)
        if key in found:
            raise ReprotrainError(
                CONFIG_LABEL,
                where,
                f"lists {dataset.name} {dataset.version} a second time",
                "list each dataset version once",
            )
        rows = datasets.check_rows(dataset, entry.get("rows"), CONFIG_LABEL, where)
        location = datasets.source_location(dataset, repo, config["registry"])
        found[key] = datasets.DataVersion(dataset, rows, location)
    return found


def _code_version(repo: Path) -> dict[str, Any]:
    """The code's version for the manifest: the commit of the workflow's source tree."""
    exported = repo / source_tree.COMMIT_FILE
    if exported.is_file():
        commit = fileio.read_text(exported, limit=4096, what="exported commit").strip()
        return {"commit": commit, "dirty": False}
    return provenance.git_state(repo)
