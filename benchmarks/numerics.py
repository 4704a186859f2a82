"""What the numerics pin costs: the pinned OpenBLAS kernel against the one this CPU picks.

    make bench-numerics            # or: .venv/bin/python benchmarks/numerics.py

On an AVX-512 machine OpenBLAS picks SkylakeX; the default pin (config `numerics`) runs
Haswell (AVX2) everywhere. Measured, each in its own process with OPENBLAS_CORETYPE set as
the pin sets it, medians of --repeats:

- a float64 matrix product (the BLAS kernel alone);
- the LogisticRegression lbfgs fit on synthetic rows (the fit whose bytes the kernel
  changed), with the sha256 of its pickle under each kernel;
- the whole pipeline (LogisticRegression on the synthetic dataset) pinned and unpinned.

Writes benchmarks/NUMERICS.md and benchmarks/numerics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, clean, copy_project, machine, median, run_timed, snakemake_command

from reprotrain.environment import numerics

HERE = Path(__file__).resolve().parent
PIPELINE_ROWS = 200_000

GEMM = """
import time, numpy as np
rng = np.random.default_rng(0)
a, b = rng.random((2000, 2000)), rng.random((2000, 2000))
a @ b
start = time.perf_counter()
for _ in range(5):
    a @ b
print(5 * 2 * 2000**3 / (time.perf_counter() - start) / 1e9)
"""

LR_FIT = """
import hashlib, pickle, time
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
features, labels = make_classification(n_samples=200_000, n_features=50, random_state=0)
model = LogisticRegression(max_iter=1000, tol=1e-6)
start = time.perf_counter()
model.fit(features, labels)
seconds = time.perf_counter() - start
print(seconds, hashlib.sha256(pickle.dumps(model, protocol=5)).hexdigest())
"""


def with_kernel(kernel: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in (numerics.KERNEL_VARIABLE, numerics.SIMD_VARIABLE)
    }
    # One BLAS thread: the kernel's cost, not the thread pool's.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if kernel:
        env[numerics.KERNEL_VARIABLE] = kernel
    return env


def python_output(code: str, kernel: str | None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=with_kernel(kernel),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def bench_kernels(kernels: list[str], repeats: int) -> dict:
    results = {}
    for kernel in kernels:
        gflops = [float(python_output(GEMM, kernel)[0]) for _ in range(repeats)]
        fits = [python_output(LR_FIT, kernel) for _ in range(repeats)]
        results[kernel] = {
            "gemm_gflops": gflops,
            "lr_fit_seconds": [float(seconds) for seconds, _ in fits],
            "lr_pickle_sha256": sorted({digest for _, digest in fits}),
        }
    return results


def bench_pipeline(repeats: int, scratch: Path) -> dict:
    results = {}
    for label, pin in (("pinned", True), ("unpinned", False)):
        workdir = copy_project(scratch / label)
        overlay = {
            "dataset": {"name": "synthetic", "version": "v1", "rows": PIPELINE_ROWS},
            "model": "logistic_regression",
            "numerics": {"pin": pin},
        }
        (workdir / "config/bench.yaml").write_text(json.dumps(overlay), encoding="utf-8")
        command = [*snakemake_command(), "--", "results/manifest.json"]
        seconds = []
        for index in range(repeats + 1):  # the first run warms the caches
            clean(workdir)
            log = scratch / f"{label}-{index}.log"
            measured = run_timed(command, workdir, log, env=with_kernel(None))
            if index:
                seconds.append(measured.seconds)
        hardware = json.loads((workdir / "results/manifest.json").read_text())["provenance"][
            "environment"
        ]["hardware"]
        results[label] = {
            "seconds": seconds,
            "kernels": sorted({item["kernel"] for item in hardware["blas"]}),
        }
    return results


def render(results: dict) -> str:
    kernels = results["kernels"]
    pinned = results["pin"]
    lines = [
        "# What the numerics pin costs",
        "",
        f"`{results['command']}` on {results['machine']['cpu']} "
        f"({results['machine']['cores']} cores, commit {results['machine']['commit']}); "
        f"medians of {results['repeats']}. The pin runs `{pinned}`; OpenBLAS picks "
        f"`{results['picked']}` on this CPU.",
        "",
        "| kernel | matmul, 1 thread | LogisticRegression fit, 200k x 50 | pickle sha256 |",
        "| --- | --- | --- | --- |",
    ]
    for kernel, figures in kernels.items():
        lines.append(
            f"| {kernel}{' (pinned)' if kernel == pinned else ''} "
            f"| {median(figures['gemm_gflops']):.1f} GFLOP/s "
            f"| {median(figures['lr_fit_seconds']):.2f} s "
            f"| {', '.join(d[:12] for d in figures['lr_pickle_sha256'])} |"
        )
    pipeline = results["pipeline"]
    pin_s, free_s = (median(pipeline[k]["seconds"]) for k in ("pinned", "unpinned"))
    lines += [
        "",
        f"Whole pipeline (LogisticRegression, synthetic {PIPELINE_ROWS} rows, to the run "
        f"manifest): pinned ({', '.join(pipeline['pinned']['kernels'])}) {pin_s:.2f} s, "
        f"unpinned ({', '.join(pipeline['unpinned']['kernels'])}) {free_s:.2f} s: "
        f"{pin_s / free_s:.2f}x.",
        "",
        "One pickle digest per kernel: the fit itself is deterministic under each kernel, and "
        "different kernels give different bytes, which is why the kernel is pinned.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
    pin = numerics.pin_from_config({**config["numerics"], "pin": True}, "config/config.yaml")
    runnable = numerics.runnable_kernels(numerics.host_flags())
    picked = numerics.kernel_picked(with_kernel(None))
    kernels = [pin.blas_kernel, *(k for k in runnable if k != pin.blas_kernel)]
    with tempfile.TemporaryDirectory(prefix="reprotrain-bench-numerics-") as scratch:
        results = {
            "command": "make bench-numerics",
            "machine": machine(),
            "repeats": args.repeats,
            "pin": pin.blas_kernel,
            "picked": picked,
            "kernels": bench_kernels(kernels, args.repeats),
            "pipeline": bench_pipeline(args.repeats, Path(scratch)),
        }
    (HERE / "numerics.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (HERE / "NUMERICS.md").write_text(render(results), encoding="utf-8")
    print(render(results))


if __name__ == "__main__":
    if Path.cwd() != REPO:
        os.chdir(REPO)
    main()
