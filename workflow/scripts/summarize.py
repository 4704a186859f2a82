from reprotrain.rules import run_step
from reprotrain.summary import summarize

run_step(
    snakemake.log[0],
    summarize,
    metrics_paths=list(snakemake.input.metrics),
    runs=snakemake.params.run_wildcards,
    table_out=snakemake.output.table,
    html_out=snakemake.output.html,
    plot_out=snakemake.output.plot,
)
