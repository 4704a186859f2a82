import sys

sys.path.insert(0, snakemake.scriptdir + "/../..")
from sweep_steps import validate

validate(
    snakemake.input.model,
    snakemake.input.test,
    snakemake.output.metrics,
    snakemake.output.roc,
    snakemake.output.confusion,
)
