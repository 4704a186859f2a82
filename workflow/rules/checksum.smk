# Last stage: hash every covered output into the run manifest, compare with the record.


rule manifest:
    """Write the run manifest: sha256 of every covered output plus the run's provenance."""
    input:
        covered=COVERED,
        environment=OUT["environment"],
        checked=last_run_checked,
    output:
        OUT["manifest"],
    log:
        log_path("manifest"),
    benchmark:
        benchmark_path("manifest")
    conda:
        ENV_FILE
    params:
        recipes=output_recipes,
        uncovered=LAYOUT.uncovered,
        data=DATA_PROVENANCE,
        code_digest=CODE_DIGEST,
        params_digest=PARAMS_DIGEST,
        config_digest=CONFIG_DIGEST,
        code_version=CODE_VERSION,
        code=rule_code("checksum.smk", "manifest.py"),
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
        recorded=recorded_manifest,
        lock=in_source(ACTIVE_LOCK),
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
        recorded_integrity=RECORDED and RECORDED["integrity"],
        strict=STRICT,
        code=rule_code("checksum.smk", "checksum.py"),
    script:
        "../scripts/checksum.py"


declare_provenance(
    "checksum",
    code=("code",),
    not_provenance=("expected", "recorded_integrity", "strict"),
)
