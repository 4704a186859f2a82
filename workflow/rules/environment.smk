# The rule environment's fingerprint, taken from inside that environment.


rule environment:
    """Record the lock in force, the interpreter, the platform and the installed versions."""
    input:
        lock=in_source(ACTIVE_LOCK),
        conda_lock=in_source(CONDA_LOCK),
        pip_lock=in_source(PIP_LOCK),
    output:
        OUT["environment"],
    log:
        log_path("environment"),
    benchmark:
        benchmark_path("environment")
    conda:
        ENV_FILE
    params:
        # Without conda, a hand-changed venv changes this and reruns the pipeline.
        installed=(
            None
            if USE_CONDA
            else drift.installed_digest(in_source(ACTIVE_LOCK), LOCKED_VERSIONS)
        ),
        # The record names the lock by its repository path, wherever it was read.
        lock_name=lambda wildcards, input: LOCKS[input.lock],
        # The fingerprint records the kernels the pin selects.
        numerics=NUMERICS_PARAM,
        code=rule_code("environment.smk", "environment.py"),
    script:
        "../scripts/environment.py"


declare_provenance(
    "environment",
    environment="installed",
    hardware="numerics",
    code=("code",),
    not_provenance=("lock_name",),
)
