# Training stage: fit the configured model with its seed and pinned threads.


rule train:
    """Fit the model; the canonical pickle goes to save, which publishes it."""
    input:
        train=OUT["train"],
    output:
        estimator=temp(OUT["estimator"]),
        summary=temp(OUT["training"]),
    log:
        log_path("train", SPLIT_MODEL),
        # save's proof that estimator.pkl is what this job wrote
        seal=LAYOUT.estimator_seal,
    benchmark:
        benchmark_path("train", SPLIT_MODEL)
    conda:
        ENV_FILE
    threads: PLAN.model_job_threads
    params:
        table_schema=PLAN.schema,
        model=lambda wildcards: wildcards.model,
        hyperparameters=PLAN.hyperparameters,
        preprocessing=PLAN.preprocessing,
        seed=lambda wildcards: int(wildcards.seed),
        numerics=PLAN.numerics_param,
        code=model_rule_code("train.smk", "train.py"),
    script:
        "../scripts/train.py"


declare_provenance(
    "train",
    params=("table_schema", "model", "hyperparameters", "preprocessing", "seed"),
    hardware="numerics",
    code=("code",),
)
