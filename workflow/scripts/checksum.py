from reprotrain.report import checksum_and_provenance
from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    checksum_and_provenance,
    run_manifest=snakemake.input.run,
    expected=snakemake.params.expected,
    recorded_integrity=snakemake.params.recorded_integrity,
    strict=snakemake.params.strict,
    lock=snakemake.input.lock,
    verdict_out=snakemake.output.verdict,
    page_out=snakemake.output.provenance,
)
