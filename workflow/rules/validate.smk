# Validation stage: verified load, test-split metrics and figures, thresholds. A rule
# per kind of task, because each draws its own figures (reprotrain.layout).


rule validate:
    """Unpickle the model only if it matches its card, score it on the test split, plot it."""
    input:
        model=OUT["model"],
        card=OUT["card"],
        test=OUT["test"],
        environment_lock=PLAN.model_environment_lock,
    output:
        metrics=OUT["metrics"],
        roc=report(
            OUT["roc"],
            caption="../report/roc.rst",
            category="Models",
            subcategory="{dataset} {version}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "ROC curve"},
        ),
        confusion=report(
            OUT["confusion"],
            caption="../report/confusion.rst",
            category="Models",
            subcategory="{dataset} {version}",
            labels={
                "model": "{model}",
                "seed": "{seed}",
                "figure": "confusion matrix",
            },
        ),
    log:
        log_path("validate", SPLIT_MODEL),
    benchmark:
        benchmark_path("validate", SPLIT_MODEL)
    wildcard_constraints:
        dataset=PLAN.names_of_kind("classification"),
    conda:
        model_conda_env
    # Prediction is parallel over samples (OpenMP): the same floats at any thread count.
    threads: PLAN.model_job_threads
    params:
        table_schema=PLAN.schema,
        thresholds=PLAN.thresholds,
        # Which config field set each threshold: a missed one is reported against it.
        threshold_fields=PLAN.threshold_fields,
        numerics=PLAN.numerics_param,
        seal_path=LAYOUT.seal,
        verdict_path=LAYOUT.verdict,
        code=model_rule_code("validate.smk", "validate.py"),
        job_environment=PLAN.model_job_environment,
    script:
        "../scripts/validate.py"


# The same job for a regression dataset: predicted-vs-true and residual plots.
use rule validate as validate_regression with:
    output:
        metrics=OUT["metrics"],
        predicted=report(
            OUT["predicted"],
            caption="../report/predicted.rst",
            category="Models",
            subcategory="{dataset} {version}",
            labels={
                "model": "{model}",
                "seed": "{seed}",
                "figure": "predicted vs true",
            },
        ),
        residuals=report(
            OUT["residuals"],
            caption="../report/residuals.rst",
            category="Models",
            subcategory="{dataset} {version}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "residuals"},
        ),
    wildcard_constraints:
        dataset=PLAN.names_of_kind("regression"),


for validate_rule in ("validate", "validate_regression"):
    declare_provenance(
        validate_rule,
        params=("table_schema", "thresholds"),
        hardware="numerics",
        code=("code",),
        # The seal is checked by the job, where a threshold was set is named by its
        # message, and a miss is kept with the logs: none changes a byte.
        not_provenance=(
            "seal_path",
            "verdict_path",
            "threshold_fields",
            "job_environment",
        ),
    )


rule summarize:
    """One table and one plot comparing every (data version, seed, model) of the sweep."""
    input:
        metrics=LAYOUT.paths_of("metrics"),
    output:
        table=OUT["summary_table"],
        html=report(
            OUT["summary_html"],
            caption="../report/summary.rst",
            category="Sweep",
            labels={"figure": "metrics table"},
        ),
        plot=report(
            OUT["comparison"],
            caption="../report/comparison.rst",
            category="Sweep",
            labels={"figure": "comparison plot"},
        ),
    log:
        log_path("summarize"),
    benchmark:
        benchmark_path("summarize")
    conda:
        ENV_FILE
    params:
        run_wildcards=LAYOUT.runs,
        numerics=PLAN.numerics_param,
        code=PLAN.rule_code("validate.smk", "summarize.py"),
    script:
        "../scripts/summarize.py"


declare_provenance(
    "summarize",
    hardware="numerics",
    code=("code",),
    # The runs' wildcards; the metrics files they name are its inputs.
    not_provenance=("run_wildcards",),
)
