# Data stage: (generate a synthetic table,) verify, validate and split the raw table.


rule generate:
    """Make a seeded synthetic table (datasets of kind synthetic only)."""
    output:
        OUT["raw_synthetic"],
    log:
        log_path("generate", "{dataset}/{version}/rows-{rows}"),
    conda:
        ENV_FILE
    params:
        dataset=lambda wildcards: data_version_of(wildcards).spec,
        code=rule_code("preprocess.smk", "generate.py"),
    script:
        "../scripts/generate.py"


rule preprocess:
    """Verify the raw file's sha256, validate its schema, split it (seeded, stratified)."""
    input:
        raw=raw_data,
    output:
        train=OUT["train"],
        test=OUT["test"],
        record=OUT["data_record"],
    log:
        log_path("preprocess", SPLIT),
    benchmark:
        benchmark_path("preprocess", SPLIT)
    conda:
        ENV_FILE
    params:
        dataset=lambda wildcards: asdict(data_version_of(wildcards).dataset),
        registry=config["registry"],
        test_fraction=config["split"]["test_fraction"],
        seed=lambda wildcards: int(wildcards.seed),
        code=rule_code("preprocess.smk", "preprocess.py"),
    script:
        "../scripts/preprocess.py"
