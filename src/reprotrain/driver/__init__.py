"""What runs in the Snakemake process: the run's plan, the adapter to Snakemake's
internals, the checks remembered between runs, the run lock."""
