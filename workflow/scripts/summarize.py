from reprotrain.ml.summary import summarize
from reprotrain.steps.entry import run_step

run_step(
    snakemake.log[0],
    summarize,
    metrics_paths=list(snakemake.input.metrics),
    runs=snakemake.params.run_wildcards,
    table_out=snakemake.output.table,
    html_out=snakemake.output.html,
    plot_out=snakemake.output.plot,
)
