# reprotrain: preprocess -> train -> save -> validate -> checksum, bit-for-bit reproducible.
# Configuration lives in config/, the rules in workflow/rules/, the logic in src/reprotrain/.
# workflow/rules/common.smk validates the config, the dataset registry, the locks and
# the recorded manifest before any job runs.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/environment.smk"
include: "workflow/rules/save.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/checksum.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        last_run_checked,
        OUT["checksum"],
