from reprotrain.steps.entry import run_step

run_step(
    snakemake.log[0],
    "reprotrain.steps.record_keeping:save",  # in the run's warm worker (reprotrain.steps.worker)
    estimator=snakemake.input.estimator,
    estimator_seal=snakemake.params.estimator_seal,
    summary=snakemake.input.summary,
    data_record=snakemake.input.data_record,
    environment_path=snakemake.params.environment_path,
    seed=snakemake.params.seed,
    params_digest=snakemake.params.params_digest,
    code_digests={"train": snakemake.params.model_code, "save": snakemake.params.code},
    metrics_path=snakemake.params.metrics_path,
    model_out=snakemake.output.model,
    card_out=snakemake.output.card,
    seal_out=snakemake.log.seal,
    job_environment=snakemake.params.job_environment,
)
