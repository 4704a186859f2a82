# The rule environment's fingerprint, taken from inside that environment.


rule environment:
    """Record the lock in force, the interpreter, the platform and the installed versions."""
    input:
        lock=ACTIVE_LOCK,
        conda_lock=CONDA_LOCK,
        pip_lock=PIP_LOCK,
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
            None if USE_CONDA else drift.installed_digest(ACTIVE_LOCK, LOCKED_VERSIONS)
        ),
        # The fingerprint records the kernels the pin selects.
        numerics=NUMERICS_PARAM,
        code=rule_code("environment.smk", "environment.py"),
    script:
        "../scripts/environment.py"
