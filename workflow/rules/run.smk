# The run: its layout (reprotrain.layout), the input functions of its rules, and each
# covered output's recipe, from the provenance each rule declares beside itself
# (reprotrain.driver.recipes).


wildcard_constraints:
    **PLAN.wildcard_constraints(),


LAYOUT = PLAN.layout
OUT = LAYOUT.out
log_path, benchmark_path = LAYOUT.log, LAYOUT.benchmark
ENV_FILE = "../../envs/environment.yaml"


def raw_data(wildcards):
    """The raw table of a file dataset of the repository; none for a synthetic one,
    which preprocess generates, or one served over http(s), which preprocess streams
    into its verified copy (reprotrain.netio): its sha256 is its version."""
    location = PLAN.raw_location(wildcards)
    if location is None or PLAN.data_version(wildcards).dataset.is_url:
        return []
    return location


RECIPES = Recipes(PLAN, rules, raw_data)
declare_provenance = RECIPES.declare


def model_rule_code(rules_file, script):
    """A model rule's `code` param: its rule's code digest, with a custom estimator's."""
    rule_digest = PLAN.rule_code(rules_file, script)
    return lambda wildcards: PLAN.model_code(rule_digest, wildcards.model)


def model_conda_env(wildcards):
    """The conda spec a model's jobs run in: the rule environment's, or the named
    environment its model names (reprotrain.environment.named)."""
    name = PLAN.model_environments.get(wildcards.model)
    return ENV_FILE if name is None else f"../../envs/{name}/environment.yaml"


def checked_last_run(wildcards):
    """The last run's outputs checked by their bytes before Snakemake judges them by their
    mtimes (reprotrain.driver.start.last_run_checked); no input."""
    return last_run_checked(PLAN, RECIPES, workflow)
