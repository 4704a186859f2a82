# On request (`snakemake --cores 2 crate`): the checked run as a Workflow Run RO-Crate.


rule crate:
    """The checked run as a zipped Provenance Run Crate (docs/interop.md). Made in the
    driver with ro-crate-py, driver tooling the rule environment does not hold; the crate
    is not covered by the manifest, and the same run gives the same bytes."""
    input:
        run=OUT["manifest"],
        verdict=OUT["checksum"],
    output:
        OUT["crate"],
    log:
        log_path("crate"),
    localrule: True
    run:
        from reprotrain.interop import crate

        crate.build(
            input.run,
            output[0],
            REPO,
            input.verdict,
            log=log[0],
            expected=PLAN.expected,
            public_key=PLAN.public_key,
            strict=PLAN.strict,
        )


declare_provenance("crate")
