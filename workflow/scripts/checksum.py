from reprotrain.audit import checksum
from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    checksum,
    run_manifest=snakemake.input.run,
    expected=snakemake.params.expected,
    out=snakemake.output[0],
)
