# reprotrain: the two promised commands are `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# The Snakemake process computes params too: its str hashing (set order) is pinned as the
# jobs' is (workflow/rules/common.smk pins theirs; `reprotrain hunt` varies it).
export PYTHONHASHSEED := 0
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES)

.PHONY: setup run sweep report report-sweep test test-fast fuzz bench bench-sweep bench-cluster bench-numerics record check lint format lock pip-lock dag clean slurm-up slurm-down run-slurm

## setup: find Python 3.12 and install the pip-locked venv (--require-hashes), and each
## named environment of envs/<name>/ into its own venv beside it ($(VENV)-<name>)
setup:
	@tools/setup-venv.sh $(VENV)
	@for lock in envs/*/requirements.lock; do \
		[ -f "$$lock" ] || continue; \
		name=$$(basename $$(dirname $$lock)); \
		tools/setup-venv.sh $(VENV)-$$name $$lock || exit 1; \
	done

## run: set up, then run the pipeline on the default data and check its manifest
run: setup
	$(SNAKEMAKE)
	@echo
	@$(BIN)/reprotrain check --list

## sweep: the 2-model x 2-seed sweep of config/sweep.yaml, jobs in parallel (CORES=2)
SWEEP := --configfile config/config.yaml config/sweep.yaml
sweep: setup
	$(SNAKEMAKE) $(SWEEP)
	@echo
	@$(BIN)/reprotrain check --run results-sweep/manifest.json --expected config/sweep-manifest.json

## report / report-sweep: the self-contained HTML report of the last run / sweep
report: setup
	$(SNAKEMAKE) --report results/report.html
report-sweep: setup
	$(SNAKEMAKE) $(SWEEP) --report results-sweep/report.html

## test: set up (venv and, as root, the Debian packages the tests use), then run every test
## on TEST_WORKERS pytest-xdist workers (one per logical CPU, at most 8; TEST_WORKERS=0: one
## process). The SLURM tests share one worker and its cluster (--dist loadgroup).
TEST_WORKERS ?= logical
PYTEST_PARALLEL := -n $(TEST_WORKERS) --maxprocesses 8 --dist loadgroup
test: setup
	@tools/install-system-deps.sh
	$(BIN)/pytest $(PYTEST_PARALLEL)

## test-fast: the unit tests only (no Snakemake, no hunt, no SLURM): about 75 seconds
test-fast: setup
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not dryrun and not pipeline and not hunt and not slurm and not fuzz"

## fuzz: every parser of user-controlled bytes under atheris, FUZZ_SECONDS each (the
## tests run each for 3 s); a crashing input lands in fuzz-corpus/crash-*
FUZZ_SECONDS ?= 300
FUZZ_TARGETS = config registry csv manifest card verdict signature attestation json url
fuzz: setup
	@for target in $(FUZZ_TARGETS); do \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		$(BIN)/python tools/fuzz.py $$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

## slurm-up / slurm-down: a SLURM test cluster of SLURM_NODES compute nodes on loopback,
## each with its own address, /tmp and processes (root; see docs/slurm.md)
SLURM_STATE ?= /tmp/reprotrain-slurm
SLURM_NODES ?= 3
slurm-up:
	@tools/install-system-deps.sh
	tools/slurm-cluster.sh start $(SLURM_STATE) $(SLURM_NODES)
slurm-down:
	tools/slurm-cluster.sh stop $(SLURM_STATE)

## run-slurm: the pipeline with every rule submitted to SLURM (profiles/slurm)
run-slurm: setup
	$(BIN)/snakemake --profile profiles/slurm

## bench: the benchmark suite against the plain-script floor (about 40 min at 2 cores),
## then the sweep table (bench-sweep). Writes benchmarks/RESULTS.md and benchmarks/SWEEP.md.
## Not part of `make test`. BENCH_ARGS="--sizes 10000" for a quick one.
bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/sweep.py $(SWEEP_ARGS)

## bench-sweep: sweeps of 1, 4, 16 and 64 model runs by reprotrain, reprotrain with one
## process per job, a minimal Snakemake workflow and a plain loop, alternated, plus the
## dry run and no-op at 1 and 256 (about 40 min at 2 cores; SWEEP_ARGS="--counts 1 4"
## for a quick one); writes benchmarks/SWEEP.md
SWEEP_ARGS ?= --repeats 3 --large-repeats 1
bench-sweep: setup
	$(BIN)/python benchmarks/sweep.py $(SWEEP_ARGS)

## bench-cluster: the 64-model-run sweep on a three-node test cluster against the same
## sweep run locally and the plain loop (root; about 10 min); writes benchmarks/CLUSTER.md
CLUSTER_ARGS ?= --count 64 --repeats 1
bench-cluster: setup
	@tools/install-system-deps.sh
	$(BIN)/python benchmarks/cluster.py $(CLUSTER_ARGS)

## bench-numerics: what the numerics pin costs against the kernel this CPU picks (a few
## minutes); writes benchmarks/NUMERICS.md
bench-numerics: setup
	$(BIN)/python benchmarks/numerics.py

## record: run up to the run manifests and make them the recorded ones (explicit, never
## automatic): the default run's (config/manifest.json), the sweep's (config/sweep-manifest.json)
## and those of the embedded multi-class and regression tables (config/penguins.yaml,
## config/diabetes.yaml). Your own config: docs in the README ("Record your own run").
## SIGNING_KEY=<private key> signs them and writes their in-toto attestations (reprotrain
## keygen; manifest.public_key checks them; docs/interop.md)
SIGN := $(if $(SIGNING_KEY),--sign $(SIGNING_KEY) --attest)
record: setup
	$(SNAKEMAKE) results/manifest.json
	$(BIN)/reprotrain record $(SIGN)
	$(SNAKEMAKE) results-sweep/manifest.json $(SWEEP)
	$(BIN)/reprotrain record --run results-sweep/manifest.json --to config/sweep-manifest.json $(SIGN)
	for name in penguins diabetes boosting boosting-regression sweep-cluster; do \
	  $(SNAKEMAKE) results-$$name/manifest.json --configfile config/config.yaml config/$$name.yaml && \
	  $(BIN)/reprotrain record --run results-$$name/manifest.json --to config/$$name-manifest.json $(SIGN) || exit 1; \
	done

## check: compare the last run's manifest with the recorded one
check: setup
	$(BIN)/reprotrain check

## lint: snakemake --lint, snakefmt, ruff, mypy (the package's types, records included)
lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/snakefmt Snakefile workflow/Snakefile workflow/rules
	$(BIN)/ruff format .

## lock: regenerate conda-lock.yml, the pin files and the pip lock (needs conda-forge)
lock: setup
	VENV=$(VENV) tools/lock.sh all

## pip-lock: regenerate only the pip lock from the conda lock (needs PyPI)
pip-lock: setup
	VENV=$(VENV) tools/lock.sh pip

## dag: print the rule graph as a Mermaid flowchart (the README shows a simpler one)
dag: setup
	@$(BIN)/snakemake --rulegraph mermaid-js

clean:
	rm -rf results results-sweep logs .snakemake hunt-report fuzz-corpus
