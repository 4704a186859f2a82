"""reprotrain's benchmark suite: what reproducibility costs against a plain script.

    make bench                                         # 10k, 1M and 10M rows, 3 repeats
    .venv/bin/python benchmarks/run.py --sizes 10000 1000000 --repeats 5

Each size runs in a scratch copy of the project (what a clone holds) on the seeded
synthetic dataset. A warm-up pipeline run records that size's manifest and fills the
page cache and the bytecode caches; then the plain script (benchmarks/baseline.py) and
the pipeline from clean alternate, ``repeats`` times each, under benchmarks/reaped.py
(every process counted, the warm workers included).
Every timed pipeline run ends in ``checksum`` against the warm-up's manifest, so it also
shows the outputs are bit-identical at that size. Then the no-op rerun against a
minimal Snakemake workflow's, manifest hashing against hashlib, and the import floor of
one step process. Writes benchmarks/results.json and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "src"))

from reprotrain import source_tree  # noqa: E402
from reprotrain.hashing import sha256_file, sha256_files  # noqa: E402

RESULTS_JSON = REPO / "benchmarks/results.json"
REAPED = REPO / "benchmarks/reaped.py"
RESULTS_MD = REPO / "benchmarks/RESULTS.md"
# The targets: ratio of reprotrain to its floor, and which way is good.
FULL_RUN_TARGETS = {10_000: 3.0, 1_000_000: 1.15, 10_000_000: 1.10}
NOOP_TARGET = 1.1
HASHING_TARGET = 0.9
RSS_TARGET = 1.3
HASH_FILE_BYTES = 1 << 30
PARALLEL_FILES = 4


@dataclass
class Measurement:
    seconds: float
    max_rss_mib: float  # the largest single process, warm workers included
    peak_pss_mib: float = float("nan")  # every process of the run at one moment
    cpu_seconds: float = float("nan")  # user + system, every process of the run


def run_timed(command: list[str], cwd: Path, log: Path, env: dict | None = None) -> Measurement:
    """Wall time, memory and CPU of everything the command starts (benchmarks/reaped.py:
    the warm workers, which no job waits for, are reaped and counted too)."""
    usage = log.with_suffix(".usage.json")
    with log.open("w", encoding="utf-8") as output:
        done = subprocess.run(
            [sys.executable, str(REAPED), "--json", str(usage), "--", *command],
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    text = log.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0:
        sys.exit(f"benchmark command failed ({' '.join(command)}) in {cwd}:\n{text[-4000:]}")
    measured = json.loads(usage.read_text(encoding="utf-8"))
    return Measurement(
        measured["seconds"],
        measured["max_rss_mib"],
        measured["peak_pss_mib"],
        measured["cpu_seconds"],
    )


def copy_project(destination: Path) -> Path:
    """What a clone holds, as the hunt copies it."""
    return source_tree.copy_project(REPO, destination)


def clean(workdir: Path) -> None:
    for name in ("results", "logs", ".snakemake", "baseline-out"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def snakemake_command(*extra: str) -> list[str]:
    return [
        str(BIN / "snakemake"),
        "--workflow-profile",
        "profiles/default",
        "--cores",
        str(os.cpu_count()),
        *extra,
        "--configfile",
        "config/config.yaml",
        "config/bench.yaml",
    ]


def rule_seconds(workdir: Path) -> dict[str, float]:
    """Each rule's job time from its `benchmark:` file (summed over that rule's jobs)."""
    totals: dict[str, float] = {}
    for tsv in (workdir / "logs/benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(workdir / "logs/benchmarks").parts[0].removesuffix(".tsv")
        with tsv.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                totals[rule] = totals.get(rule, 0.0) + float(row["s"])
    return totals


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_size(rows: int, repeats: int, scratch: Path) -> dict:
    workdir = copy_project(scratch / f"rows-{rows}")
    (workdir / "config/bench.yaml").write_text(
        json.dumps(
            {
                "dataset": {"name": "synthetic", "version": "v1", "rows": rows},
                "manifest": {"expected": "config/bench-manifest.json"},
            }
        ),
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    print(f"[{rows} rows] warm-up run and record", flush=True)
    run_timed(snakemake_command("results/manifest.json"), workdir, logs / f"{rows}-warmup.log")
    subprocess.run(
        [str(BIN / "reprotrain"), "record", "--to", "config/bench-manifest.json"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    baseline = [str(BIN / "python"), "benchmarks/baseline.py", "--rows", str(rows)]
    runs: dict[str, list[Measurement]] = {"baseline": [], "pipeline": []}
    per_rule: list[dict[str, float]] = []
    for repeat in range(repeats):
        clean(workdir)
        print(f"[{rows} rows] repeat {repeat + 1}/{repeats}: baseline", flush=True)
        runs["baseline"].append(
            run_timed(
                [*baseline, "--out", "baseline-out"],
                workdir,
                logs / f"{rows}-baseline-{repeat}.log",
                env,
            )
        )
        clean(workdir)
        print(f"[{rows} rows] repeat {repeat + 1}/{repeats}: pipeline", flush=True)
        runs["pipeline"].append(
            run_timed(snakemake_command(), workdir, logs / f"{rows}-pipeline-{repeat}.log")
        )
        per_rule.append(rule_seconds(workdir))
    rules = sorted({rule for times in per_rule for rule in times})
    return {
        "rows": rows,
        "workdir": workdir,
        "baseline": [asdict(m) for m in runs["baseline"]],
        "pipeline": [asdict(m) for m in runs["pipeline"]],
        "rules": {rule: median([times.get(rule, 0.0) for times in per_rule]) for rule in rules},
    }


def bench_noop(workdir: Path, repeats: int, scratch: Path) -> dict:
    """No-op rerun of the pipeline (all outputs current) against a minimal workflow's, and
    the minimal workflow from clean: Snakemake's start-up plus its hand-over between jobs."""
    minimal = scratch / "minimal"
    minimal.mkdir(exist_ok=True)
    shutil.copy(REPO / "benchmarks/minimal/Snakefile", minimal / "Snakefile")
    minimal_command = [str(BIN / "snakemake"), "--cores", str(os.cpu_count())]
    run_timed(minimal_command, minimal, scratch / "logs/minimal-first.log")
    times: dict[str, list[float]] = {"minimal": [], "pipeline": [], "minimal_from_clean": []}
    for repeat in range(repeats):
        for name in ("out", "logs", ".snakemake"):
            shutil.rmtree(minimal / name, ignore_errors=True)
        log = scratch / f"logs/minimal-clean-{repeat}.log"
        times["minimal_from_clean"].append(run_timed(minimal_command, minimal, log).seconds)
        for name, command, cwd in (
            ("minimal", minimal_command, minimal),
            ("pipeline", snakemake_command(), workdir),
        ):
            log = scratch / f"logs/noop-{name}-{repeat}.log"
            times[name].append(run_timed(command, cwd, log).seconds)
            if "Nothing to be done" not in log.read_text(encoding="utf-8"):
                sys.exit(f"the {name} no-op rerun ran jobs: see {log}")
    return times


def bench_hashing(repeats: int, scratch: Path) -> dict:
    """sha256 of one 1 GiB file: reprotrain.hashing against hashlib.file_digest; and
    several files at once against one after another."""
    big = scratch / "hash-1GiB.bin"
    parts = [scratch / f"hash-part-{index}.bin" for index in range(PARALLEL_FILES)]
    block = os.urandom(1 << 24)
    with big.open("wb") as handle:
        for _ in range(HASH_FILE_BYTES // len(block)):
            handle.write(block)
    for part in parts:
        with part.open("wb") as handle:
            for _ in range(HASH_FILE_BYTES // PARALLEL_FILES // len(block)):
                handle.write(block)

    def hashlib_file(path: Path) -> str:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()

    def timed(function, *args) -> float:
        start = time.perf_counter()
        function(*args)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {
        "hashlib": [],
        "reprotrain": [],
        "sequential": [],
        "parallel": [],
    }
    hashlib_file(big)  # page cache: both sides then read from memory
    for _ in range(repeats):
        times["hashlib"].append(timed(hashlib_file, big))
        times["reprotrain"].append(timed(sha256_file, big))
        times["sequential"].append(timed(lambda: [hashlib_file(part) for part in parts]))
        times["parallel"].append(timed(sha256_files, parts))
    for path in [big, *parts]:
        path.unlink()
    return times


def bench_imports(repeats: int) -> dict:
    """The fixed cost of one step process: an interpreter, and one with a step's imports.

    Each ends with os._exit, as a job does (reprotrain.steps.entry): start-up, not teardown.
    """
    imports = {
        "bare interpreter": "",
        "train/validate imports": "import reprotrain.steps.learning",
        "record-keeping imports": "import reprotrain.steps.record_keeping, reprotrain.steps.entry",
        # What Snakemake's `script:` preamble imports to unpickle the `snakemake` object.
        "Snakemake script preamble": "import pickle, snakemake.iocontainers",
    }
    commands = {
        name: [str(BIN / "python"), "-c", f"{statement}\nimport os\nos._exit(0)"]
        for name, statement in imports.items()
    }
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    times = {}
    for name, command in commands.items():
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, env=env)
            samples.append(time.perf_counter() - start)
        times[name] = samples
    return times


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    os_release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    versions = {
        package: importlib.metadata.version(package)
        for package in ("snakemake", "numpy", "pandas", "scikit-learn")
    }
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "os": os_release.get("PRETTY_NAME", "").strip('"'),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": commit,
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator


def verdict(value: float, target: float, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    return "met" if met else "**not met**"


def import_medians(results: dict) -> dict[str, float]:
    return {name: median(samples) for name, samples in results["imports"].items()}


def floors(results: dict, baseline_seconds: float) -> tuple[float, float]:
    """Lower bounds for a pipeline of this shape: (with warm workers, a process per rule).

    Both pay the plain script's time and Snakemake's no-op (start-up and DAG, before any
    job). The warm workers import the ML stack once, as the plain script does; a
    pipeline that runs `train` and `validate` in processes of their own
    (REPROTRAIN_WARM_WORKERS=0) repeats that import in both."""
    imports = import_medians(results)
    repeated = imports["train/validate imports"] - imports["bare interpreter"]
    warm = baseline_seconds + median(results["noop"]["minimal"])
    return warm, warm + 2 * repeated


def ratio_rows(sizes: list[dict], metric: str, digits: int, target_of) -> list[str]:
    """One table row per size: the plain script's and the pipeline's median, their ratio,
    and the target (at most) where ``target_of(rows)`` gives one."""
    rows = []
    for size in sizes:
        base = median([m[metric] for m in size["baseline"]])
        pipe = median([m[metric] for m in size["pipeline"]])
        value = ratio(pipe, base)
        target = target_of(size["rows"])
        judged = f"≤ {target}x | {verdict(value, target, True)} |" if target else "- | |"
        rows.append(
            f"| {size['rows']:,} | {base:.{digits}f} | {pipe:.{digits}f} | {value:.2f}x | " + judged
        )
    return rows


def render(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/run.py`; `benchmarks/README.md` says what the numbers mean and",
        "what was changed because of them.",
        "",
        f"- Command: `{results['command']}`",
        f"- Commit: `{results['machine']['commit']}`",
        f"- Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"{results['machine']['memory_gib']} GiB, {results['machine']['os']}, "
        f"kernel {results['machine']['kernel']}",
        f"- Python {results['machine']['python']}, "
        + ", ".join(f"{k} {v}" for k, v in results["machine"]["packages"].items()),
        f"- Each figure is the median of {results['repeats']} runs; the plain script and the "
        "pipeline alternate within one invocation.",
        "",
        "## Full run from clean",
        "",
        "The pipeline runs every rule up to and including `checksum` against the manifest its",
        "warm-up run recorded, so each timed run is also a determinism check at that size.",
        "",
        "| rows | plain script (s) | pipeline (s) | ratio | target | |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    lines += ratio_rows(results["sizes"], "seconds", 2, FULL_RUN_TARGETS.get)
    imports = import_medians(results)
    lines += [
        "",
        "### The floor",
        "",
        "A lower bound, up to the run-to-run noise (the plain script alone can vary by "
        "more than the floor adds): the plain script's time plus Snakemake's no-op "
        f"({median(results['noop']['minimal']):.2f} s: start-up and DAG before any job). The "
        "steps' warm workers import the ML stack once, as the plain script does, so the "
        "floor charges no import of its own; a pipeline that runs `train` and `validate` in "
        "processes of their own (`REPROTRAIN_WARM_WORKERS=0`) repeats it in both "
        f"(2 x {imports['train/validate imports'] - imports['bare interpreter']:.2f} s more). "
        "Both leave out Snakemake's work around each job: the minimal workflow takes "
        f"{median(results['noop']['minimal_from_clean']):.2f} s from clean against its "
        f"{median(results['noop']['minimal']):.2f} s no-op.",
        "",
        "| rows | plain script (s) | floor (s) | floor ratio | floor, a process per rule | "
        "pipeline ratio | target |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        base = median([m["seconds"] for m in size["baseline"]])
        pipe = median([m["seconds"] for m in size["pipeline"]])
        warm, cold = floors(results, base)
        lines.append(
            f"| {size['rows']:,} | {base:.2f} | {warm:.2f} | {ratio(warm, base):.2f}x | "
            f"{ratio(cold, base):.2f}x | {ratio(pipe, base):.2f}x | "
            f"≤ {FULL_RUN_TARGETS.get(size['rows'], '-')}x |"
        )
    lines += [
        "",
        "## Peak memory and CPU",
        "",
        "Every process of the run counted (benchmarks/reaped.py): the warm workers, which",
        "start in their own session and which no job waits for, are reaped by the",
        "benchmark and counted; GNU time and Snakemake's `benchmark:` files miss them (their",
        "`max_rss` and `cpu_time` are those of a job's own process, which hands its step",
        "over). Peak memory is the most the run's processes held at one moment, each",
        "process's proportional set size summed (a page a worker shares with the children",
        "it forks counts once), sampled every 50 ms.",
        "",
        "| rows | plain script (MiB) | pipeline (MiB) | ratio | target | |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    lines += ratio_rows(results["sizes"], "peak_pss_mib", 0, lambda rows: RSS_TARGET)
    lines += [
        "",
        "The largest single process's peak RSS, and the CPU time (user + system) of all:",
        "",
        "| rows | largest process, plain (MiB) | largest process, pipeline (MiB) | "
        "CPU, plain (s) | CPU, pipeline (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        values = [
            median([m[metric] for m in size[side]])
            for metric in ("max_rss_mib", "cpu_seconds")
            for side in ("baseline", "pipeline")
        ]
        lines.append(
            f"| {size['rows']:,} | {values[0]:.0f} | {values[1]:.0f} | {values[2]:.1f} | "
            f"{values[3]:.1f} |"
        )
    lines += [
        "",
        "## Where the pipeline's time goes",
        "",
        "Seconds per rule from Snakemake's `benchmark:` files (median over the runs). The",
        "rest of the wall time is Snakemake itself: start-up, DAG, scheduling, waiting.",
        "",
    ]
    rules = sorted({rule for size in results["sizes"] for rule in size["rules"]})
    lines.append("| rule | " + " | ".join(f"{s['rows']:,} rows" for s in results["sizes"]) + " |")
    lines.append("|---|" + "---:|" * len(results["sizes"]))
    for rule in rules:
        cells = [f"{size['rules'].get(rule, 0.0):.2f}" for size in results["sizes"]]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    walls = [median([m["seconds"] for m in size["pipeline"]]) for size in results["sizes"]]
    lines.append("| **wall time** | " + " | ".join(f"**{w:.2f}**" for w in walls) + " |")

    noop = results["noop"]
    minimal, pipeline = median(noop["minimal"]), median(noop["pipeline"])
    noop_ratio = ratio(pipeline, minimal)
    hashing = results["hashing"]
    gib = HASH_FILE_BYTES / 2**30
    hashlib_rate = gib / median(hashing["hashlib"])
    own_rate = gib / median(hashing["reprotrain"])
    speedup = ratio(median(hashing["sequential"]), median(hashing["parallel"]))
    lines += [
        "",
        "## No-op rerun",
        "",
        f"Everything up to date, at {results['sizes'][0]['rows']:,} rows; the floor is a "
        "minimal Snakemake workflow of the same shape (`benchmarks/minimal/Snakefile`).",
        "",
        "| minimal workflow (s) | reprotrain (s) | ratio | target | |",
        "|---:|---:|---:|---:|---|",
        f"| {minimal:.2f} | {pipeline:.2f} | {noop_ratio:.2f}x | ≤ {NOOP_TARGET}x | "
        f"{verdict(noop_ratio, NOOP_TARGET, True)} |",
        "",
        "## Manifest hashing",
        "",
        f"One {gib:.0f} GiB file from the page cache; then {PARALLEL_FILES} files of "
        f"{gib / PARALLEL_FILES:.2f} GiB hashed one after another (hashlib) and together "
        "(`reprotrain.hashing.sha256_files`, as the manifest does).",
        "",
        "| figure | value | target | |",
        "|---|---:|---:|---|",
        f"| hashlib.file_digest | {hashlib_rate:.2f} GiB/s | | |",
        f"| reprotrain sha256_file | {own_rate:.2f} GiB/s "
        f"({own_rate / hashlib_rate:.2f}x) | ≥ {HASHING_TARGET}x | "
        f"{verdict(own_rate / hashlib_rate, HASHING_TARGET, False)} |",
        f"| {PARALLEL_FILES} files together vs one after another | {speedup:.2f}x faster | "
        f"uses all {results['machine']['cores']} cores | |",
        "",
        "## The floor of one step process",
        "",
        "Start-up of one interpreter with what a step imports (median, seconds): what each",
        "extra process costs however small the data.",
        "",
        "| process | s |",
        "|---|---:|",
    ]
    for name, seconds in imports.items():
        lines.append(f"| {name} | {seconds:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(FULL_RUN_TARGETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, help="where the copies go (default: a temp dir)")
    arguments = parser.parse_args()
    if arguments.repeats < 3:
        parser.error("--repeats must be at least 3: every figure is a median")
    scratch = Path(arguments.scratch or tempfile.mkdtemp(prefix="reprotrain-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    command = "benchmarks/run.py " + " ".join(sys.argv[1:])
    sizes = [bench_size(rows, arguments.repeats, scratch) for rows in arguments.sizes]
    print("no-op reruns", flush=True)
    noop = bench_noop(sizes[0]["workdir"], max(5, arguments.repeats), scratch)
    print("hashing", flush=True)
    hashing = bench_hashing(arguments.repeats, scratch)
    imports = bench_imports(max(5, arguments.repeats))
    for size in sizes:
        shutil.rmtree(size.pop("workdir"))
    results = {
        "command": command.strip(),
        "repeats": arguments.repeats,
        "machine": machine(),
        "sizes": sizes,
        "noop": noop,
        "hashing": hashing,
        "imports": imports,
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(render(results), encoding="utf-8")
    print(RESULTS_MD.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
