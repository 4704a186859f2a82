# The entry point from this repository (`make run`, or `snakemake` here). It uses the
# workflow, workflow/Snakefile, as a module, just as any other workflow would
# (docs/module.md): what runs here is what a host workflow runs.


configfile: "config/config.yaml"


module reprotrain:
    snakefile:
        "workflow/Snakefile"
    config:
        config


use rule * from reprotrain
