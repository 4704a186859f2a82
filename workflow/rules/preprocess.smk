# Data stage: verify (or generate), validate and split the raw table.


rule preprocess:
    """Verify the raw file's sha256 (or generate a synthetic table), validate its schema,
    split it (seeded, stratified)."""
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
        dataset=lambda wildcards: PLAN.data_version(wildcards).spec,
        registry=config["registry"],
        test_fraction=config["split"]["test_fraction"],
        seed=lambda wildcards: int(wildcards.seed),
        numerics=PLAN.numerics_param,
        network=config.get("network", {}),
        code=PLAN.rule_code("preprocess.smk", "preprocess.py"),
    script:
        "../scripts/preprocess.py"


declare_provenance(
    "preprocess",
    params=("registry", "test_fraction", "seed"),
    data="dataset",
    hardware="numerics",
    code=("code",),
    # How long a download may wait changes nothing it can be: its sha256 is checked.
    not_provenance=("network",),
)
