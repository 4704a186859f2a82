# Last stage: hash every covered output into the run manifest, compare with the record.


rule manifest:
    """Write the run manifest: sha256 of every covered output plus the run's provenance."""
    input:
        covered=COVERED,
        data_record=OUT["data_record"],
        environment=OUT["environment"],
    output:
        OUT["manifest"],
    log:
        "logs/manifest.log",
    conda:
        ENV_FILE
    params:
        recipes=output_recipes,
        uncovered=UNCOVERED,
        code_digest=CODE_DIGEST,
        params_digest=PARAMS_DIGEST,
        code=rule_code("checksum.smk", "manifest.py"),
    script:
        "../scripts/manifest.py"


rule checksum:
    """Fail with a per-file table when any output differs from the recorded manifest."""
    input:
        run=OUT["manifest"],
        recorded=recorded_manifest,
    output:
        OUT["checksum"],
    log:
        "logs/checksum.log",
    conda:
        ENV_FILE
    params:
        expected=config["manifest"]["expected"],
        code=rule_code("checksum.smk", "checksum.py"),
    script:
        "../scripts/checksum.py"
