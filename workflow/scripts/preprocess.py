from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    "reprotrain.pipeline:preprocess",  # in the run's warm worker (reprotrain.worker)
    raw=snakemake.input.raw,
    dataset=snakemake.params.dataset,
    registry=snakemake.params.registry,
    test_fraction=snakemake.params.test_fraction,
    seed=snakemake.params.seed,
    train=snakemake.output.train,
    test=snakemake.output.test,
    record=snakemake.output.record,
)
