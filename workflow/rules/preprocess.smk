# Data stage: (generate a synthetic table,) verify, validate and split the raw table.


rule generate:
    """Make a seeded synthetic table (datasets of kind synthetic only)."""
    output:
        OUT["raw_synthetic"],
    log:
        "logs/generate.log",
    conda:
        ENV_FILE
    params:
        dataset=asdict(DATASET) | {"rows": ROWS},
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
        "logs/preprocess.log",
    benchmark:
        "logs/benchmarks/preprocess.tsv"
    conda:
        ENV_FILE
    params:
        dataset=asdict(DATASET),
        registry=config["registry"],
        test_fraction=config["split"]["test_fraction"],
        seed=config["seed"],
        code=rule_code("preprocess.smk", "preprocess.py"),
    script:
        "../scripts/preprocess.py"
