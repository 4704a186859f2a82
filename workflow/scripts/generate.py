from reprotrain.pipeline import generate
from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    generate,
    dataset=snakemake.params.dataset,
    raw=snakemake.output[0],
)
