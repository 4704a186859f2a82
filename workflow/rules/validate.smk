# Validation stage: verified load, test-split metrics and figures, thresholds.


rule validate:
    """Unpickle the model only if it matches its card, score it on the test split, plot it."""
    input:
        model=OUT["model"],
        card=OUT["card"],
        test=OUT["test"],
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
    conda:
        ENV_FILE
    # Prediction is parallel over samples (OpenMP): the same floats at any thread count.
    threads: config["threads"]
    params:
        target=target_of,
        thresholds=config["thresholds"],
        numerics=NUMERICS_PARAM,
        # The model's sha256 in the recorded manifest, when the record is of this recipe.
        model_record=recorded_model_sha256,
        record_path=config["manifest"]["expected"],
        seal_path=LAYOUT.seal,
        code=model_rule_code("validate.smk", "validate.py"),
    script:
        "../scripts/validate.py"


declare_provenance(
    "validate",
    params=("target", "thresholds"),
    hardware="numerics",
    code=("code",),
    # What the record and the seal say is checked by the job; it changes no bytes.
    not_provenance=("model_record", "record_path", "seal_path"),
)


rule summarize:
    """One table and one plot comparing every (data version, seed, model) of the sweep."""
    input:
        metrics=ALL_METRICS,
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
        run_wildcards=ALL_RUNS,
        numerics=NUMERICS_PARAM,
        code=rule_code("validate.smk", "summarize.py"),
    script:
        "../scripts/summarize.py"


declare_provenance(
    "summarize",
    hardware="numerics",
    code=("code",),
    # The runs' wildcards; the metrics files they name are its inputs.
    not_provenance=("run_wildcards",),
)
