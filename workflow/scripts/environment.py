from reprotrain.steps.entry import run_step
from reprotrain.steps.record_keeping import environment

run_step(
    snakemake.log[0],
    environment,
    lock=snakemake.input.lock,
    lock_name=snakemake.params.lock_name,
    conda_lock=snakemake.input.conda_lock,
    pip_lock=snakemake.input.pip_lock,
    out=snakemake.output[0],
    environments=snakemake.params.environments,
)
