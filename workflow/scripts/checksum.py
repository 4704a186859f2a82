from reprotrain.steps.checksum import checksum_and_provenance
from reprotrain.steps.entry import run_step

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
    logs=snakemake.params.logs,
)
