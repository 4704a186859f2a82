# The run: its layout (reprotrain.layout), the input functions of its rules, and each
# covered output's recipe, built from the provenance each rule declares beside itself.

import dataclasses
import functools

from snakemake.io import apply_wildcards
from snakemake.iocontainers import Wildcards

from reprotrain import layout

SEEDS = as_list(config["seed"])
MODELS = as_list(config["model"])


# Wildcards take only the configured values, so a path outside the run is no target.
wildcard_constraints:
    dataset="|".join(sorted({re.escape(name) for name, _ in DATA_VERSIONS})),
    version="|".join(sorted({re.escape(version) for _, version in DATA_VERSIONS})),
    seed="|".join(str(seed) for seed in SEEDS),
    model="|".join(MODELS),


# Everything a run makes goes under config `results`; logs and benchmarks under logs/.
LAYOUT = layout.Layout(
    config["results"],
    tuple(
        layout.combinations(
            DATA_VERSIONS,
            SEEDS,
            MODELS,
            [key for key in DATA_VERSIONS if TASK_KINDS[key[0]] == "regression"],
        )
    ),
)


def names_of_kind(kind):
    """A wildcard constraint: the run's dataset names of one kind of task (or none)."""
    names = sorted(re.escape(name) for name, each in TASK_KINDS.items() if each == kind)
    return "|".join(names) or "(?!)"


OUT = LAYOUT.out
SPLIT, SPLIT_MODEL = layout.SPLIT, layout.SPLIT_MODEL
log_path, benchmark_path = LAYOUT.log, LAYOUT.benchmark
# Outputs whose bytes the manifest pins, each with its key and wildcards. Logs and
# benchmarks are kept, not covered.
COVERED_WILDCARDS = LAYOUT.covered
COVERED = list(COVERED_WILDCARDS)
COVERED_SET = frozenset(COVERED)
ALL_RUNS = LAYOUT.runs
ALL_METRICS = LAYOUT.paths_of("metrics")


def model_job_threads():
    """Threads of train and validate. On this machine, config `threads` is shared out among
    the run's model runs, so that independent jobs fit `--cores` side by side instead of
    queueing behind each other's threads (the bytes do not depend on threads). A cluster
    job has its node's cores to itself: config `threads` as it is."""
    cores = workflow.resource_settings.cores
    if not workflow.local_exec or not cores:
        return config["threads"]
    return max(1, min(config["threads"], cores // len(ALL_RUNS)))


MODEL_JOB_THREADS = model_job_threads()


def data_version_of(wildcards):
    return DATA_VERSIONS[(wildcards.dataset, wildcards.version)]


def schema_of(wildcards):
    """The table schema of the data version, as the jobs get it."""
    return _schema_dict(wildcards.dataset, wildcards.version)


# One dict per data version, not one per job of a sweep (nothing changes a param's value).
@functools.cache
def _schema_dict(dataset, version):
    return dataclasses.asdict(DATA_VERSIONS[(dataset, version)].dataset.schema)


def hyperparameters_of(wildcards):
    return config["models"].get(wildcards.model, {})


def preprocessing_of(wildcards):
    """Config `preprocessing` for a table the model must encode or impute; None for a
    table of numbers alone, whose models it changes nothing of."""
    if data_version_of(wildcards).dataset.schema.needs_column_transformer:
        return config["preprocessing"]
    return None


def thresholds_of(wildcards):
    """The bounds of this dataset's kind of task, with the dataset's own in force."""
    return evaluate.thresholds_for(
        data_version_of(wildcards).dataset.schema.task,
        config["thresholds"],
        config["thresholds"].get("by_dataset", {}).get(wildcards.dataset),
    )


def threshold_fields(wildcards):
    """The config field of each threshold in force: a missed one is named by it (and by
    the config file that set it, rules.run_step)."""
    own = config["thresholds"].get("by_dataset", {}).get(wildcards.dataset, {})
    return {
        key: (
            f"thresholds.by_dataset.{wildcards.dataset}.{key}"
            if key in own
            else f"thresholds.{key}"
        )
        for key in thresholds_of(wildcards)
    }


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
        # Only where the model has a preprocessing step: other models' digests stay.
        | ({"preprocessing": p} if (p := preprocessing_of(wildcards)) else {})
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
# The code's version for the manifest: the commit of the workflow's source tree.
if (REPO / SOURCE_COMMIT_FILE).is_file():
    CODE_VERSION = {
        "commit": (REPO / SOURCE_COMMIT_FILE).read_text(encoding="utf-8").strip(),
        "dirty": False,
    }
else:
    CODE_VERSION = provenance.git_state(REPO)


def rule_code(rules_file, script):
    """A rule's `code` param: editing its rules file, script or imported modules reruns it.

    Remembered per CODE_DIGEST, which covers every file the digest can read."""
    return MEMO(
        provenance.rule_code_digest,
        str(REPO),
        f"workflow/rules/{rules_file}",
        f"workflow/scripts/{script}",
    )


def model_rule_code(rules_file, script):
    """A model rule's `code` param: its rule's code digest, combined for a custom estimator
    from the user code directory with that code's digest. Editing a user module reruns
    (and re-records) only the runs that use it; a preset's digest is the rule's alone.
    """
    rule_digest = rule_code(rules_file, script)

    def code(wildcards):
        entry = config["models"].get(wildcards.model) or {}
        if "estimator" not in entry:
            return rule_digest
        module_name, _ = model_types.split_import_path(entry["estimator"])
        user = provenance.user_module_digest(USER_CODE, module_name)
        return rule_digest if user is None else digest_value([rule_digest, user])

    return code


def raw_data(wildcards):
    """The raw table file of a file dataset; a synthetic one is generated in preprocess."""
    data_version = data_version_of(wildcards)
    if data_version.location is None:
        return []
    if data_version.dataset.is_url:
        return storage.http(data_version.location)
    return data_version.location


def recorded_manifest(wildcards):
    """The recorded manifest as an input when it exists, so recording reruns checksum."""
    expected = config["manifest"]["expected"]
    return [expected] if Path(expected).is_file() else []


# What each rule's params mean to its outputs' provenance, declared beside each rule.
DECLARATIONS = {}


def declare_provenance(rule_name, **meaning):
    """Declare what each param of a rule (named as this workflow names it, whatever prefix
    a host workflow gives it) means to provenance (reprotrain.records.provenance.Declaration).
    """
    declaration = provenance.Declaration(**meaning)
    proxy = getattr(rules, rule_name)
    try:
        declaration.check(rule_name, proxy.params.keys(), proxy.input.keys())
    except ValueError as error:
        raise WorkflowError(str(error)) from None
    DECLARATIONS[rule_name] = declaration


def _evaluate(item, wildcards, values):
    """A rule's input or param item for concrete wildcards (a dict, and the same as
    Snakemake's Wildcards), as Snakemake would see it."""
    if callable(item):
        return item(values)
    if isinstance(item, str):
        return apply_wildcards(item, wildcards)
    return item


def _rule_view(name, wildcards):
    return _cached_rule_view(name, tuple(sorted(wildcards.items())))


# A rule's view is part of the recipe of each output it leads to: built once per job.
@functools.cache
def _cached_rule_view(name, wildcard_items):
    wildcards = dict(wildcard_items)
    values = Wildcards(fromdict=wildcards)
    proxy = getattr(rules, name)
    declaration = DECLARATIONS[name]
    output_names = {str(output): key for key, output in proxy.output.items()}
    inputs = []
    for input_name, item in proxy.input.items():
        for each in list(item) if isinstance(item, list) else [item]:
            value = _evaluate(each, wildcards, values)
            files = [value] if isinstance(value, str) else value
            pattern = str(each) if isinstance(each, str) else None
            inputs.append(
                provenance.RuleInput(input_name, pattern, tuple(map(str, files)))
            )
    return provenance.RuleView(
        name=name,
        declaration=declaration,
        outputs={str(output): output_names.get(str(output)) for output in proxy.output},
        inputs=tuple(inputs),
        # What is no provenance is not evaluated (it may need the job's input or a record).
        params={
            key: _evaluate(value, wildcards, values)
            for key, value in proxy.params.items()
            if key not in declaration.not_provenance
        },
        packages_record=drift.packages_record_path(
            _evaluate(proxy.log[0], wildcards, values)
        ),
    )


# Which of the two scoring rules (both make metrics.json) serves each kind of task.
VALIDATE_RULE = {"classification": "validate", "regression": "validate_regression"}


@functools.cache
def _producers(kind="classification"):
    """Each output pattern -> the rule that makes it for a dataset of this kind of task."""
    others = set(VALIDATE_RULE.values()) - {VALIDATE_RULE[kind]}
    return {
        str(output): name
        for name in DECLARATIONS
        if name not in others
        for output in getattr(rules, name).output
    }


def _recipe(pattern, wildcards):
    if "dataset" not in wildcards:
        context = _recipe_context(None, None)
        return provenance.recipe(pattern, wildcards, _rule_view, _producers(), context)
    dataset, version = wildcards["dataset"], wildcards["version"]
    context = _recipe_context(dataset, version)
    kind = TASK_KINDS[dataset]
    return provenance.recipe(pattern, wildcards, _rule_view, _producers(kind), context)


@functools.cache
def _recipe_context(dataset, version):
    """What the recipes of one data version's outputs share (None: of no data version)."""
    if dataset is None:
        return provenance.RecipeContext(COVERED_SET, LOCKS)
    values = Wildcards(fromdict={"dataset": dataset, "version": version})
    data_version = data_version_of(values)
    raw = data_version.location and str(raw_data(values))
    data_input = {"kind": "data", "sha256": data_version.input_digest}
    return provenance.RecipeContext(COVERED_SET, LOCKS, raw, data_input)


@functools.cache
def _active_lock_sha256():
    return sha256_file(in_source(ACTIVE_LOCK))


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
    recipe = _recipe(OUT["model"], values)
    if (
        recipe["params_digest"] != entry["params_digest"]
        or recipe["code_digest"] != entry["code_digest"]
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
    recipes = {}
    for path, (key, output_wildcards) in COVERED_WILDCARDS.items():
        recipe = _recipe(OUT[key], output_wildcards)
        recipes[path] = {
            "rule": recipe["rule"],
            "role": LAYOUT.role(key),
            "pattern": OUT[key],
            "inputs": recipe["inputs"],
            "params_digest": recipe["params_digest"],
            "code_digest": recipe["code_digest"],
        }
    return recipes


def check_provenance_declared():
    """Each producer of files in this workflow declares its provenance: an undeclared
    one would silently turn into a plain input file."""
    declared = {getattr(rules, name).rule for name in DECLARATIONS}
    for each in workflow.rules:
        if each.module_globals is globals() and each.output and each not in declared:
            raise WorkflowError(
                f"{each.name} does not declare its provenance (reprotrain.records.provenance."
                "Declaration): add a declare_provenance() call beside it"
            )


@functools.cache
def _reconcile_last_run():
    executing = workflow.executor_plugin is not None and not workflow.dryrun
    stale = verify.reconcile(
        OUT["manifest"],
        OUT["checksum"],
        RECORDED,
        config["manifest"]["expected"],
        STRICT,
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
    longer holds is redone (reprotrain.audit.verify.reconcile). It runs while Snakemake builds
    the DAG, when a dry run is known to be one (it then only says), and in the driver
    alone, which holds the run lock."""
    if workflow.is_main_process:
        _reconcile_last_run()
    return []
