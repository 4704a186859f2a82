# Training stage: fit the configured model with its seed and pinned threads.


rule train:
    """Fit the model; the canonical pickle goes to save, which publishes it."""
    input:
        train=OUT["train"],
        # The lock of the model's own environment, when it names one.
        environment_lock=PLAN.model_environment_lock,
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
        model_conda_env
    threads: PLAN.model_job_threads
    params:
        table_schema=PLAN.schema,
        model=lambda wildcards: wildcards.model,
        hyperparameters=PLAN.hyperparameters,
        preprocessing=PLAN.preprocessing,
        seed=lambda wildcards: int(wildcards.seed),
        numerics=PLAN.numerics_param,
        code=model_rule_code("train.smk", "train.py"),
        job_environment=PLAN.model_job_environment,
    script:
        "../scripts/train.py"


declare_provenance(
    "train",
    params=("table_schema", "model", "hyperparameters", "preprocessing", "seed"),
    hardware="numerics",
    code=("code",),
    # How the job enters its environment; the environment's lock is an input.
    not_provenance=("job_environment",),
)
