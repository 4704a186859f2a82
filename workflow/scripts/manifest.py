from reprotrain.steps.entry import run_step
from reprotrain.steps.record_keeping import write_manifest

run_step(
    snakemake.log[0],
    write_manifest,
    recipes=snakemake.params.recipes,
    uncovered=snakemake.params.uncovered,
    data=snakemake.params.data,
    environment_record=snakemake.input.environment,
    code_digest=snakemake.params.code_digest,
    params_digest=snakemake.params.params_digest,
    config_digest=snakemake.params.config_digest,
    code_version=snakemake.params.code_version,
    out=snakemake.output[0],
)
