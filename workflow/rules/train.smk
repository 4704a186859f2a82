# Training stage: fit the configured model with its seed and pinned threads.


rule train:
    """Fit the model; the canonical pickle goes to save, which publishes it."""
    input:
        train=OUT["train"],
    output:
        estimator=temp(OUT["estimator"]),
        summary=temp(OUT["training"]),
    log:
        "logs/train.log",
    benchmark:
        "logs/benchmarks/train.tsv"
    conda:
        ENV_FILE
    threads: config["threads"]
    params:
        target=DATASET.schema.target,
        model=config["model"],
        hyperparameters=config["models"].get(config["model"], {}),
        seed=config["seed"],
        code=rule_code("train.smk", "train.py"),
    script:
        "../scripts/train.py"
