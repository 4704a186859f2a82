from reprotrain.pipeline import train
from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    train,
    train_table=snakemake.input.train,
    target=snakemake.params.target,
    model_type=snakemake.params.model,
    params=snakemake.params.hyperparameters,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    estimator_out=snakemake.output.estimator,
    summary_out=snakemake.output.summary,
)
