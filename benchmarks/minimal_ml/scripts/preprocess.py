import sys

sys.path.insert(0, snakemake.scriptdir + "/../..")
from sweep_steps import preprocess

preprocess(
    snakemake.input[0],
    snakemake.params.test_fraction,
    int(snakemake.wildcards.seed),
    snakemake.output.train,
    snakemake.output.test,
)
