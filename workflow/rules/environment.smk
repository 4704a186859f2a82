# The rule environment's fingerprint, taken from inside that environment.


rule environment:
    """Record the lock in force, the interpreter, the platform and the installed versions."""
    input:
        **PLAN.lock_inputs(),
        # The locks of the named environments the run's models use.
        environment_locks=PLAN.named_environment_locks(),
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
        installed=PLAN.installed_digest(),
        # The record names the lock by its repository path, wherever it was read.
        lock_name=lambda wildcards, input: PLAN.locks[input.lock],
        # The fingerprint records the kernels the pin selects.
        numerics=PLAN.numerics_param,
        environments=PLAN.named_environments(),
        code=PLAN.rule_code("environment.smk", "environment.py"),
    script:
        "../scripts/environment.py"


declare_provenance(
    "environment",
    environment="installed",
    hardware="numerics",
    code=("code",),
    # The named environments' locks are inputs; where their interpreters are is no byte.
    not_provenance=("lock_name", "environments"),
)
