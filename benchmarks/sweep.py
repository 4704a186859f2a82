"""The sweep benchmark: seeds x models sweeps of the embedded breast_cancer data, from
clean, on this machine's cores, by four ways of running them, alternated in one
invocation:

- reprotrain (its default profile: warm workers, threads that fit --cores);
- reprotrain with every step in its job's own process (REPROTRAIN_WARM_WORKERS=0): the
  process-per-job design the warm workers replace;
- a minimal Snakemake workflow of one script per step importing scikit-learn
  (minimal_ml/), doing the same work (sweep_steps.py) and nothing else;
- a plain Python loop in one process (sweep_steps.loop).

Each reprotrain run ends in its checksum against a manifest a warm-up run recorded, so
each timed run is a bit-identity check too. Then reprotrain's dry run (from clean) and
no-op rerun at 1 and 256 combinations: what grows with the DAG, beside the minimal
workflow's dry run and a profile of reprotrain's. Writes SWEEP.md and sweep.json.

    make bench-sweep                                    # about 45 min on 2 cores
    .venv/bin/python benchmarks/sweep.py --counts 1 4 --repeats 3
    .venv/bin/python benchmarks/sweep.py --scale-only   # about 15 min
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import BIN, REPO, copy_project, machine, median, verdict
from sweep_steps import combinations

COUNTS = (1, 4, 16, 64)
SCALE = 256
VARIANTS = ("reprotrain", "reprotrain, one process per job", "minimal Snakemake", "plain loop")
SWEEP_JSON = REPO / "benchmarks/sweep.json"
SWEEP_MD = REPO / "benchmarks/SWEEP.md"
# The targets (2 cores): at 64 combinations, at most these ratios.
LOOP_TARGET = 4.0
MINIMAL_TARGET = 0.5
SCALE_TARGET = 2.0
CONFIG = "config/bench-sweep.yaml"
PROFILE = ["--workflow-profile", "profiles/default", "--cores", str(os.cpu_count())]


def write_config(workdir: Path, count: int) -> None:
    runs = combinations(count)
    overlay = {
        "results": "results-bench",
        "seed": sorted({seed for seed, _ in runs}),
        "model": sorted({model for _, model in runs}),
        "manifest": {"expected": "config/bench-sweep-manifest.json"},
        # A timing, not a quality bar: some of the many seeds miss the default one.
        "thresholds": {"min_accuracy": 0.5, "min_roc_auc": 0.5, "min_f1": 0.5, "max_log_loss": 5.0},
    }
    (workdir / CONFIG).write_text(json.dumps(overlay), encoding="utf-8")


def reprotrain(*extra: str) -> list[str]:
    return [str(BIN / "snakemake"), *PROFILE, *extra, "--configfile", "config/config.yaml", CONFIG]


def commands(workdir: Path, count: int) -> dict[str, tuple[list[str], dict, list[str]]]:
    """Each way's command, environment and what it leaves to clean before the next run."""
    cold = dict(os.environ, REPROTRAIN_WARM_WORKERS="0")
    # Snakemake's defaults: not reprotrain's profile, which Snakemake would find here.
    minimal = [
        str(BIN / "snakemake"), "-s", "benchmarks/minimal_ml/Snakefile", "--workflow-profile",
        "none", "--cores", str(os.cpu_count()), "--config", f"count={count}",
    ]  # fmt: skip
    loop = [str(BIN / "python"), "benchmarks/sweep_steps.py", str(count), "loop-out"]
    ours = ["results-bench", "logs", ".snakemake"]
    return {
        VARIANTS[0]: (reprotrain(), dict(os.environ), ours),
        VARIANTS[1]: (reprotrain(), cold, ours),
        VARIANTS[2]: (minimal, dict(os.environ), ["minimal-out", ".snakemake"]),
        VARIANTS[3]: (loop, dict(os.environ), ["loop-out"]),
    }


def clean(workdir: Path, names: list[str]) -> None:
    for name in names:
        shutil.rmtree(workdir / name, ignore_errors=True)


def timed(command: list[str], cwd: Path, env: dict, log: Path) -> float:
    """Wall seconds until the command's output pipe closes: a process of the run that
    outlived it would hold the pipe and show in the time."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    log.write_bytes(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}: see {log}")
    return seconds


def record(workdir: Path, scratch: Path, count: int) -> None:
    """The warm-up run: records the manifest every timed reprotrain run is checked against."""
    clean(workdir, ["results-bench", "logs", ".snakemake"])
    log = scratch / f"logs/record-{count}.log"
    timed(reprotrain("results-bench/manifest.json"), workdir, dict(os.environ), log)
    record_command = [
        str(BIN / "reprotrain"), "record", "--run", "results-bench/manifest.json",
        "--to", "config/bench-sweep-manifest.json",
    ]  # fmt: skip
    timed(record_command, workdir, dict(os.environ), scratch / f"logs/record-{count}-cli.log")


def bench_count(workdir: Path, scratch: Path, count: int, repeats: int) -> dict:
    write_config(workdir, count)
    record(workdir, scratch, count)
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    ways = commands(workdir, count)
    for repeat in range(repeats):
        for variant, (command, env, leaves) in ways.items():
            clean(workdir, leaves)
            log = scratch / f"logs/{count}-{VARIANTS.index(variant)}-{repeat}.log"
            times[variant].append(timed(command, workdir, env, log))
            print(f"{count:4d} combinations, {variant}: {times[variant][-1]:.1f} s", flush=True)
    return {"combinations": count, "repeats": repeats, "seconds": times}


def job_count(log: Path) -> int:
    """The jobs of a dry run, from Snakemake's job stats."""
    totals = re.findall(r"^total\s+(\d+)$", log.read_text(encoding="utf-8"), re.MULTILINE)
    if not totals:
        sys.exit(f"no job stats in {log}")
    return int(totals[-1])


def own_seconds(profile: Path) -> tuple[float, float]:
    """Of a profiled run: the seconds spent in reprotrain's functions that Snakemake calls
    (input and param functions, not the parse of the workflow) and the whole run's."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]

    def ours(file: str) -> bool:
        return f"{os.sep}workflow{os.sep}" in file or f"{os.sep}reprotrain{os.sep}" in file

    own = 0.0
    for (file, _, name), (_, _, _, _, callers) in stats.items():
        if not ours(file) or name == "<module>":
            continue
        own += sum(edge[3] for caller, edge in callers.items() if not ours(caller[0]))
    return own, max(entry[3] for entry in stats.values())


def profiled(workdir: Path, scratch: Path, name: str, *extra: str) -> dict[str, float]:
    """One reprotrain invocation under cProfile: its seconds, and reprotrain's share."""
    profile = scratch / f"logs/{name}.prof"
    command = [str(BIN / "python"), "-m", "cProfile", "-o", str(profile), *reprotrain(*extra)]
    timed(command, workdir, dict(os.environ), scratch / f"logs/{name}-profiled.log")
    own, whole = own_seconds(profile)
    return {"reprotrain_functions": own, "whole": whole}


def bench_scale(workdir: Path, scratch: Path, repeats: int) -> dict:
    """reprotrain's dry run from clean and no-op rerun at 1 and SCALE combinations, beside
    the minimal workflow's dry run (Snakemake's own cost per job of the simplest shape),
    and where reprotrain's dry run and no-op spend their time (one of each profiled)."""
    found: dict[str, dict] = {}
    minimal = commands(workdir, 1)[VARIANTS[2]][0][:-1]  # without its count
    for count in (1, SCALE):
        write_config(workdir, count)
        dry, minimal_dry = [], []
        for _ in range(repeats):
            clean(workdir, ["results-bench", "logs", ".snakemake"])
            log = scratch / f"logs/dry-{count}.log"
            dry.append(timed(reprotrain("-n"), workdir, dict(os.environ), log))
            clean(workdir, ["minimal-out", ".snakemake"])
            minimal_log = scratch / f"logs/minimal-dry-{count}.log"
            command = [*minimal, f"count={count}", "-n"]
            minimal_dry.append(timed(command, workdir, dict(os.environ), minimal_log))
        clean(workdir, ["results-bench", "logs", ".snakemake"])
        profiled_dry = profiled(workdir, scratch, f"dry-{count}", "-n")
        record(workdir, scratch, count)
        timed(reprotrain(), workdir, dict(os.environ), scratch / f"logs/scale-{count}.log")
        noop = []
        for _ in range(repeats):
            log = scratch / f"logs/noop-{count}.log"
            noop.append(timed(reprotrain(), workdir, dict(os.environ), log))
            if "Nothing to be done" not in log.read_text(encoding="utf-8"):
                sys.exit(f"the no-op rerun at {count} combinations ran jobs: see {log}")
        found[str(count)] = {
            "dry_run": dry,
            "noop": noop,
            "jobs": job_count(scratch / f"logs/dry-{count}.log"),
            "minimal_dry_run": minimal_dry,
            "minimal_jobs": job_count(scratch / f"logs/minimal-dry-{count}.log"),
            "profiled_dry_run": profiled_dry,
            "profiled_noop": profiled(workdir, scratch, f"noop-{count}"),
        }
        print(f"{count:4d} combinations: dry run {median(dry):.1f} s, no-op {median(noop):.1f} s")
    return found


def render(results: dict) -> str:
    info = results["machine"]
    lines = [
        "# Sweep benchmark",
        "",
        f"`{results['command']}` on {info['cpu']}, {info['cores']} cores, {info['os']}, "
        f"Python {info['python']}, Snakemake {info['packages']['snakemake']}, commit "
        f"`{info['commit']}`. Seeds x models sweeps (logistic regression and hist gradient "
        "boosting) of the embedded breast_cancer data, from clean; medians of the runs "
        "(the last column), the four ways alternated (benchmarks/sweep.py). Every "
        "reprotrain run ends in its checksum against the record of a warm-up run.",
        "",
        "| combinations | " + " | ".join(VARIANTS) + " | reprotrain / loop "
        "| reprotrain / minimal | runs |",
        "|---:|" + "---:|" * (len(VARIANTS) + 3),
    ]
    for row in results["counts"]:
        medians = {variant: median(row["seconds"][variant]) for variant in VARIANTS}
        cells = " | ".join(f"{medians[variant]:.1f} s" for variant in VARIANTS)
        to_loop = medians[VARIANTS[0]] / medians[VARIANTS[3]]
        to_minimal = medians[VARIANTS[0]] / medians[VARIANTS[2]]
        lines.append(
            f"| {row['combinations']} | {cells} | {to_loop:.2f}x | {to_minimal:.2f}x "
            f"| {row['repeats']} |"
        )
    largest = results["counts"][-1]
    medians = {variant: median(largest["seconds"][variant]) for variant in VARIANTS}
    to_loop = medians[VARIANTS[0]] / medians[VARIANTS[3]]
    to_minimal = medians[VARIANTS[0]] / medians[VARIANTS[2]]
    lines += [
        "",
        f"Targets at {largest['combinations']} combinations: reprotrain at most "
        f"{LOOP_TARGET:g}x the plain loop ({to_loop:.2f}x: {verdict(to_loop, LOOP_TARGET, True)})"
        f" and at most {MINIMAL_TARGET:g}x the minimal workflow ({to_minimal:.2f}x: "
        f"{verdict(to_minimal, MINIMAL_TARGET, True)}).",
    ]
    if scale := results.get("scale"):
        lines += render_scale(results, scale)
    return "\n".join(lines) + "\n"


def render_scale(results: dict, scale: dict) -> list[str]:
    one, many = scale["1"], scale[str(SCALE)]
    lines = [
        "",
        f"reprotrain's dry run and no-op rerun (medians of {results['scale_repeats']}"
        + (f", commit `{results['scale_commit']}`" if "scale_commit" in results else "")
        + "):",
        "",
        f"| | 1 combination | {SCALE} combinations | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for key, name in (("dry_run", "dry run from clean"), ("noop", "no-op rerun")):
        ratio = median(many[key]) / median(one[key])
        lines.append(
            f"| {name} | {median(one[key]):.1f} s | {median(many[key]):.1f} s | "
            f"{ratio:.2f}x | at most {SCALE_TARGET:g}x: {verdict(ratio, SCALE_TARGET, True)} |"
        )
    if "jobs" not in many:
        return lines

    def per_job(key: str, jobs: str) -> float:
        grown = median(many[key]) - median(one[key])
        return 1000 * grown / (many[jobs] - one[jobs])

    lines += [
        "",
        f"Where it grows: {one['jobs']} jobs at 1 combination, {many['jobs']} at {SCALE}. "
        f"Each added job costs reprotrain's dry run {per_job('dry_run', 'jobs'):.1f} ms; the "
        f"minimal workflow's dry run ({one['minimal_jobs']} to {many['minimal_jobs']} jobs, "
        f"{median(one['minimal_dry_run']):.1f} s to {median(many['minimal_dry_run']):.1f} s, "
        "scikit-learn imported when it is parsed) costs "
        f"{per_job('minimal_dry_run', 'minimal_jobs'):.1f} ms per added job, Snakemake's own "
        "cost for its simplest job. One invocation of each under cProfile, split into "
        "reprotrain's own functions that Snakemake calls (input and param functions, the "
        "recipes, the check of the last run's outputs by their bytes) and the rest "
        "(Snakemake, and the parse of the workflow):",
        "",
        f"| under cProfile | reprotrain's functions, 1 / {SCALE} | the rest, 1 / {SCALE} "
        "| the rest's ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, name in (("profiled_dry_run", "dry run"), ("profiled_noop", "no-op rerun")):
        if key not in many:
            continue
        own = (one[key]["reprotrain_functions"], many[key]["reprotrain_functions"])
        rest = (one[key]["whole"] - own[0], many[key]["whole"] - own[1])
        lines.append(
            f"| {name} | {own[0]:.2f} s / {own[1]:.2f} s | {rest[0]:.1f} s / {rest[1]:.1f} s "
            f"| {rest[1] / rest[0]:.2f}x |"
        )
    return lines


def repeats_at(count: int, arguments: argparse.Namespace) -> int:
    large = arguments.large_repeats or arguments.repeats
    return large if count >= 64 else arguments.repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--large-repeats", type=int, help="repeats at 64 combinations and more (default: --repeats)"
    )
    parser.add_argument("--no-scale", action="store_true", help=f"skip the {SCALE} runs")
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help=f"only the {SCALE} runs; the sweep table stays as sweep.json has it",
    )
    parser.add_argument("--scratch", type=Path, help="where the copy goes (default: a temp dir)")
    arguments = parser.parse_args()
    scratch = Path(arguments.scratch or tempfile.mkdtemp(prefix="reprotrain-sweep-"))
    (scratch / "logs").mkdir(parents=True, exist_ok=True)
    workdir = copy_project(scratch / "project")
    if arguments.scale_only:
        results = json.loads(SWEEP_JSON.read_text(encoding="utf-8"))
        results["scale_commit"] = machine()["commit"]
    else:
        results = {
            "command": " ".join(["benchmarks/sweep.py", *sys.argv[1:]]),
            "machine": machine(),
            "counts": [
                bench_count(workdir, scratch, n, repeats_at(n, arguments)) for n in arguments.counts
            ],
        }
    results["scale_repeats"] = arguments.repeats
    if not arguments.no_scale:
        results["scale"] = bench_scale(workdir, scratch, arguments.repeats)
    shutil.rmtree(workdir)
    SWEEP_JSON.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    SWEEP_MD.write_text(render(results), encoding="utf-8")
    print(SWEEP_MD.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
