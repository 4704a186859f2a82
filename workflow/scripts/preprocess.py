from reprotrain.steps.entry import run_step

run_step(
    snakemake.log[0],
    "reprotrain.steps.learning:preprocess",  # in the run's warm worker (reprotrain.steps.worker)
    raw=snakemake.input.raw,
    dataset=snakemake.params.dataset,
    registry=snakemake.params.registry,
    test_fraction=snakemake.params.test_fraction,
    seed=snakemake.params.seed,
    train=snakemake.output.train,
    test=snakemake.output.test,
    record=snakemake.output.record,
    network=snakemake.params.network,
)
