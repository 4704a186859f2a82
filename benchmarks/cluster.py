"""What submitting to SLURM costs: the 64-model-run sweep of benchmarks/sweep.py on the
test cluster of tools/slurm-cluster.sh (three compute nodes on this machine), against
the same sweep run locally and the plain loop, alternated in one invocation.

The nodes share this machine's cores, so the cluster cannot be faster: the difference is
what submission and scheduling cost (sbatch, the plugin's pause before each submission,
its status polling, each group job's own Snakemake start-up), not a speed-up. Every
reprotrain run, local or on the cluster, ends in its checksum against the manifest a
local warm-up run recorded. Each run is accounted by benchmarks/reaped.py (the local
runs' warm workers reaped and counted); the cluster's jobs run under slurmd, outside the
benchmark's process tree, so their CPU and memory are sacct's business, not reported here.
Needs root and tools/install-system-deps.sh. Writes CLUSTER.md and cluster.json.

    make bench-cluster                       # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/cluster.py --count 16 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import REPO, Measurement, copy_project, machine, median, run_timed
from sweep import clean, commands, record, reprotrain, write_config

CLUSTER_JSON = REPO / "benchmarks/cluster.json"
CLUSTER_MD = REPO / "benchmarks/CLUSTER.md"
SCRIPT = REPO / "tools/slurm-cluster.sh"
NODES = 3
# The SLURM profile, with the test cluster's short status polling (tests/slurm).
SLURM = ["--profile", "profiles/slurm", "--profile", "tests/slurm"]
# snakemake-executor-plugin-slurm sleeps this long before each sbatch (2.6.1).
PLUGIN_PAUSE_SECONDS = 5
WAYS = ("reprotrain, local", "reprotrain, SLURM (3 nodes)", "plain loop")


def submissions(workdir: Path, conf: Path) -> int:
    """The SLURM jobs submitted from ``workdir`` (sacct)."""
    done = subprocess.run(
        ["sacct", "--allusers", "-X", "-n", "-P", "-o", "JobID,WorkDir"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"SLURM_CONF": str(conf)},
    )
    return sum(line.endswith(f"|{workdir}") for line in done.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64, help="model runs in the sweep")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scratch", type=Path, help="where the copy goes (default: under /tmp)")
    arguments = parser.parse_args()
    scratch = Path(arguments.scratch or tempfile.mkdtemp(prefix="reprotrain-bench-cluster-"))
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "logs").mkdir(exist_ok=True)
    workdir = copy_project(scratch / "project")
    write_config(workdir, arguments.count)
    record(workdir, scratch, arguments.count)
    # munged and mariadbd run as their own users: the state directory must be theirs to reach.
    state = Path(tempfile.mkdtemp(prefix="reprotrain-bench-slurm-"))
    state.chmod(0o755)
    conf = state / "etc/slurm.conf"
    shared = {"SLURM_SHARED_TMP": f"{scratch.resolve()}:{REPO}"}
    start = [str(SCRIPT), "start", str(state), str(NODES)]
    subprocess.run(start, check=True, env=os.environ | shared)
    try:
        alone = commands(workdir, arguments.count)
        ours = alone["reprotrain"]
        ways = {
            WAYS[0]: ours,
            WAYS[1]: (reprotrain(*SLURM), dict(os.environ, SLURM_CONF=str(conf)), ours[2]),
            WAYS[2]: alone["plain loop"],
        }
        found: dict[str, list[dict]] = {way: [] for way in WAYS}
        jobs = 0
        for repeat in range(arguments.repeats):
            for index, (way, (command, env, leaves)) in enumerate(ways.items()):
                clean(workdir, leaves)
                log = scratch / f"logs/cluster-{index}-{repeat}.log"
                measured: Measurement = run_timed(command, workdir, log, env=env)
                found[way].append(vars(measured))
                if way == WAYS[1]:
                    jobs = submissions(workdir, conf)
                print(f"{way}: {measured.seconds:.1f} s", flush=True)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)
    results = {
        "command": ("benchmarks/cluster.py " + " ".join(sys.argv[1:])).strip(),
        "machine": machine(),
        "count": arguments.count,
        "repeats": arguments.repeats,
        "nodes": NODES,
        "submissions": jobs // arguments.repeats,
        "runs": found,
    }
    CLUSTER_JSON.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    CLUSTER_MD.write_text(render(results), encoding="utf-8")
    print(CLUSTER_MD.read_text(encoding="utf-8"))


def render(results: dict) -> str:
    runs_of = results["runs"]
    seconds = {way: median([run["seconds"] for run in runs]) for way, runs in runs_of.items()}
    loop = seconds[WAYS[2]]
    local = seconds[WAYS[0]]
    where = results["machine"]
    lines = [
        "# The sweep on a SLURM cluster",
        "",
        f"`{results['command']}` on {where['cpu']}, {where['cores']} cores, {where['os']}, "
        f"Python {where['python']}, commit `{where['commit']}`: {results['count']} model runs "
        "of the embedded breast_cancer data from clean, on the test cluster of "
        f"`tools/slurm-cluster.sh` ({results['nodes']} compute nodes on this machine, each a "
        "slurmd in namespaces of its own), locally, and by the plain loop, alternated; "
        f"median of {results['repeats']} run(s) each. Every reprotrain run ends in its "
        "checksum against the record of a local warm-up run.",
        "",
        "| way | wall time | / plain loop | / local | peak memory, local processes "
        "| CPU, local processes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for way in WAYS:
        runs = results["runs"][way]
        peak = median([run["peak_pss_mib"] for run in runs])
        cpu = median([run["cpu_seconds"] for run in runs])
        lines.append(
            f"| {way} | {seconds[way]:.1f} s | {seconds[way] / loop:.2f}x | "
            f"{seconds[way] / local:.2f}x | {peak:.0f} MiB | {cpu:.1f} s |"
        )
    lines += [
        "",
        f"The cluster run made {results['submissions']} submissions: one group job per "
        "split (a seed's preprocess and its models' train, save and validate) and "
        "`environment`; the run's bookkeeping (manifest, checksum, summarize) ran beside "
        "Snakemake (localrules). The nodes share this machine's cores, so the cluster "
        "column is the cost of submission and scheduling, not a speed-up: the executor "
        "plugin (2.6.1) pauses 5 s before every `sbatch`, polls the queue with a back-off "
        "(the test profile starts it at 2 s), and every group job starts a Snakemake of its "
        "own on its node. On the cluster the local processes are Snakemake and the local "
        "rules only; the jobs' CPU and memory are on the nodes (sacct).",
        "",
        f"Of the cluster's {seconds[WAYS[1]]:.0f} s, {results['submissions']} x "
        f"{PLUGIN_PAUSE_SECONDS} s = {results['submissions'] * PLUGIN_PAUSE_SECONDS} s are "
        "the plugin's pauses alone, one after another; the rest is the group jobs, three "
        "nodes' worth of them sharing two cores, each starting Snakemake and its workers.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
