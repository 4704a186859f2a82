# Last stage: hash every covered output into the run manifest, compare with the record.


rule manifest:
    """Write the run manifest: sha256 of every covered output plus the run's provenance."""
    input:
        covered=list(LAYOUT.covered),
        environment=OUT["environment"],
        checked=checked_last_run,
    output:
        OUT["manifest"],
    log:
        log_path("manifest"),
    benchmark:
        benchmark_path("manifest")
    conda:
        ENV_FILE
    params:
        recipes=lambda wildcards: RECIPES.output_recipes(),
        uncovered=LAYOUT.uncovered,
        data=PLAN.data_provenance,
        code_digest=PLAN.code_digest,
        params_digest=PLAN.run_params_digest,
        config_digest=PLAN.config_digest,
        code_version=PLAN.code_version,
        code=PLAN.rule_code("checksum.smk", "manifest.py"),
    script:
        "../scripts/manifest.py"


declare_provenance(
    "manifest",
    code=("code",),
    not_provenance=(
        "recipes",
        "uncovered",
        "data",
        "code_digest",
        "params_digest",
        "config_digest",
        "code_version",
    ),
)


rule checksum:
    """Fail with a per-file table when any output differs from the recorded manifest;
    when none does, write the verdict and the report's provenance page."""
    input:
        run=OUT["manifest"],
        recorded=lambda wildcards: PLAN.recorded_manifest(),
        lock=PLAN.lock_inputs()["lock"],
    output:
        verdict=OUT["checksum"],
        provenance=report(
            OUT["provenance"],
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"figure": "data, code and software versions"},
        ),
    log:
        log_path("checksum"),
    benchmark:
        benchmark_path("checksum")
    conda:
        ENV_FILE
    params:
        expected=config["manifest"]["expected"],
        # The record as the driver read it, its signature checked when a key is set.
        recorded_integrity=PLAN.recorded and PLAN.recorded["integrity"],
        strict=PLAN.strict,
        # Where the jobs recorded the packages they imported (the provenance page).
        logs=LAYOUT.logs,
        code=PLAN.rule_code("checksum.smk", "checksum.py"),
    script:
        "../scripts/checksum.py"


declare_provenance(
    "checksum",
    code=("code",),
    not_provenance=("expected", "recorded_integrity", "strict", "logs"),
)
