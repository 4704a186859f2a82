from reprotrain.steps.entry import run_step

run_step(
    snakemake.log[0],
    "reprotrain.steps.learning:validate",  # in the run's warm worker (reprotrain.steps.worker)
    model=snakemake.input.model,
    card=snakemake.input.card,
    seal_path=snakemake.params.seal_path,
    verdict_path=snakemake.params.verdict_path,
    test_table=snakemake.input.test,
    table_schema=snakemake.params.table_schema,
    thresholds=snakemake.params.thresholds,
    threshold_fields=snakemake.params.threshold_fields,
    threads=snakemake.threads,
    out=snakemake.output.metrics,
    # The ROC curve and confusion matrix, or predicted-vs-true and the residuals.
    figure_outs=(snakemake.output[1], snakemake.output[2]),
    job_environment=snakemake.params.job_environment,
)
