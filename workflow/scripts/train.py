from reprotrain.steps.entry import run_step

run_step(
    snakemake.log[0],
    "reprotrain.steps.learning:train",  # in the run's warm worker (reprotrain.steps.worker)
    train_table=snakemake.input.train,
    table_schema=snakemake.params.table_schema,
    model_type=snakemake.params.model,
    params=snakemake.params.hyperparameters,
    preprocessing=snakemake.params.preprocessing,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    estimator_out=snakemake.output.estimator,
    summary_out=snakemake.output.summary,
    seal_out=snakemake.log.seal,
    job_environment=snakemake.params.job_environment,
)
