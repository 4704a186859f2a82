# Publishing stage: model.pkl plus its model card.


rule save:
    """Publish model.pkl and a model card that pins its sha256 and provenance."""
    input:
        estimator=OUT["estimator"],
        summary=OUT["training"],
        data_record=OUT["data_record"],
        environment_lock=PLAN.model_environment_lock,
    output:
        model=OUT["model"],
        card=OUT["card"],
    log:
        log_path("save", SPLIT_MODEL),
        # validate's proof, without a record, that model.pkl is what save wrote
        seal=LAYOUT.seal,
    benchmark:
        benchmark_path("save", SPLIT_MODEL)
    conda:
        model_conda_env
    params:
        seed=lambda wildcards: int(wildcards.seed),
        params_digest=PLAN.params_digest,
        code=model_rule_code("save.smk", "save.py"),
        model_code=rules.train.params.code,
        metrics_path=OUT["metrics"],
        # The card names the run's environment record (it describes every model's).
        environment_path=OUT["environment"],
        estimator_seal=LAYOUT.estimator_seal,
        job_environment=PLAN.model_job_environment,
    script:
        "../scripts/save.py"


declare_provenance(
    "save",
    params=("seed", "params_digest"),
    code=("code", "model_code"),
    not_provenance=(
        "metrics_path",
        "environment_path",
        "estimator_seal",
        "job_environment",
    ),
    # model.pkl is the trained pickle byte for byte; the records go into the card alone.
    made_from={"model": ("estimator",)},
)
