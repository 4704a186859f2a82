from reprotrain.pipeline import validate
from reprotrain.rules import run_step

run_step(
    snakemake.log[0],
    validate,
    model=snakemake.input.model,
    card=snakemake.input.card,
    recorded_sha256=snakemake.params.model_record,
    record=snakemake.params.record_path,
    seal_path=snakemake.params.seal_path,
    test_table=snakemake.input.test,
    target=snakemake.params.target,
    thresholds=snakemake.params.thresholds,
    threads=snakemake.threads,
    config_path="config/config.yaml",
    out=snakemake.output.metrics,
    roc_out=snakemake.output.roc,
    confusion_out=snakemake.output.confusion,
)
