import sys

sys.path.insert(0, snakemake.scriptdir + "/../..")
from sweep_steps import train

train(
    snakemake.input[0],
    snakemake.wildcards.model,
    snakemake.params.hyperparameters,
    int(snakemake.wildcards.seed),
    snakemake.output[0],
)
