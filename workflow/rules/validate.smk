# Validation stage: verified load, test-split metrics, thresholds.


rule validate:
    """Unpickle the model only if it matches its card, then score it on the test split."""
    input:
        model=OUT["model"],
        card=OUT["card"],
        test=OUT["test"],
    output:
        metrics=OUT["metrics"],
    log:
        "logs/validate.log",
    benchmark:
        "logs/benchmarks/validate.tsv"
    conda:
        ENV_FILE
    params:
        target=DATASET.schema.target,
        thresholds=config["thresholds"],
        code=rule_code("validate.smk", "validate.py"),
    script:
        "../scripts/validate.py"
