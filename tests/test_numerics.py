"""Pinned numerics: the recorded bytes hold whatever BLAS kernel the shell asks for."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from helpers import BIN, config_override, copy_repo, read_json, snakemake

from reprotrain.audit import comparison
from reprotrain.environment import numerics
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_file

SWEEP = ["--configfile", "config/config.yaml", "config/sweep.yaml"]
LR = "results-sweep/runs/breast_cancer/v1.0/seed-{seed}/logistic_regression"
LR_ONLY = {"model": "logistic_regression"}
PIN = numerics.Pin("x86_64", "Haswell", "x86-64-v3")
AVX2_ONLY = frozenset(numerics.SIMD_LEVELS["x86_64"]["x86-64-v3"].requirement.flags)


def test_pin_from_config_per_architecture():
    config = {"pin": True, "x86_64": {"blas_kernel": "Haswell", "simd": "x86-64-v3"}}
    assert numerics.pin_from_config(config, "c.yaml", arch="x86_64") == PIN
    assert numerics.pin_from_config({"pin": False}, "c.yaml") is None
    with pytest.raises(ReprotrainError) as error:
        numerics.pin_from_config(config, "c.yaml", arch="riscv64")
    assert "c.yaml: numerics.riscv64" in error.value.message
    assert "numerics.pin: false" in error.value.message


def test_job_environment_selects_kernel_and_simd_level():
    env = PIN.job_environment()
    assert env[numerics.KERNEL_VARIABLE] == "Haswell"
    assert env[numerics.SIMD_VARIABLE].split()[-1] == "AVX2"
    baseline = numerics.Pin("x86_64", "Nehalem", "x86-64").job_environment()
    assert baseline[numerics.SIMD_VARIABLE] == " "  # empty would mean "not set"


def test_a_cpu_without_the_pinned_instructions_is_refused_by_name():
    avx_only = frozenset({"sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx"})
    with pytest.raises(ReprotrainError) as error:
        numerics.check_host(PIN, "config/config.yaml", flags=avx_only)
    message = error.value.message
    assert message.startswith("config/config.yaml: numerics.x86_64.blas_kernel: Haswell needs")
    assert "lacks avx2, fma" in message
    assert "this CPU can run: Nehalem, Sandybridge" in message
    numerics.check_host(PIN, "config/config.yaml", flags=AVX2_ONLY)  # runs


def test_host_level_and_runnable_kernels_follow_the_flags():
    assert numerics.host_level(AVX2_ONLY, "x86_64") == "x86-64-v3"
    assert numerics.runnable_kernels(AVX2_ONLY, "x86_64") == ["Nehalem", "Sandybridge", "Haswell"]


def test_a_library_on_another_kernel_fails_the_check():
    found = {
        "blas": [{"library": "libopenblas.so", "api": "openblas", "kernel": "SkylakeX"}],
        "numpy_simd": ["AVX2"],
    }
    with pytest.raises(ReprotrainError, match="runs the SkylakeX kernel, not the pinned Haswell"):
        numerics.check_in_use(PIN, found)
    found["blas"][0]["kernel"] = "Haswell"
    found["numpy_simd"] = ["AVX2", "AVX512F"]
    with pytest.raises(ReprotrainError, match="dispatches to AVX512F, beyond the pinned level"):
        numerics.check_in_use(PIN, found)


def snakemake_with_kernel(workdir, kernel: str, *args: str) -> None:
    """A run whose shell exports OPENBLAS_CORETYPE=kernel, as another CPU would pick."""
    done = subprocess.run(
        [str(BIN / "snakemake"), "--workflow-profile", "profiles/default", *args],
        cwd=workdir,
        env=os.environ | {numerics.KERNEL_VARIABLE: kernel},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def kernels_this_cpu_runs() -> list[str]:
    return numerics.runnable_kernels(numerics.host_flags())


@pytest.mark.pipeline
def test_recorded_lr_bytes_hold_under_every_kernel_the_shell_exports(tmp_path):
    """Another CPU, emulated: the shell asks OpenBLAS for each kernel this CPU can run;
    the pin overrides it and the LogisticRegression outputs keep the recorded bytes."""
    kernels = kernels_this_cpu_runs()
    assert len(kernels) >= 2, f"this CPU runs a single OpenBLAS kernel: {kernels}"
    recorded = read_json(copy_repo(tmp_path / "record") / "config/sweep-manifest.json")["files"]
    for kernel in kernels:
        workdir = copy_repo(tmp_path / kernel)
        config_override(workdir, "lr", LR_ONLY)
        targets = [f"{LR.format(seed=seed)}/metrics.json" for seed in (42, 7)]
        snakemake_with_kernel(workdir, kernel, "-c2", *SWEEP, "config/lr.yaml", "--", *targets)
        for seed in (42, 7):
            for name in ("model.pkl", "metrics.json"):
                path = f"{LR.format(seed=seed)}/{name}"
                actual = sha256_file(workdir / path)
                assert actual == recorded[path]["sha256"], (kernel, path)


@pytest.mark.pipeline
def test_diff_of_pinned_and_unpinned_runs_names_hardware(tmp_path):
    """Unpinned on this CPU with another kernel than the pin's: the LR model changes,
    and diff says the hardware did it."""
    other = next(k for k in ("SkylakeX", "Sandybridge") if k in kernels_this_cpu_runs())
    runs = {}
    for name, pin in (("pinned", True), ("unpinned", False)):
        workdir = copy_repo(tmp_path / name)
        overlay = {"model": "logistic_regression", "numerics": {"pin": pin}}
        args = config_override(workdir, "lr", overlay)
        snakemake_with_kernel(workdir, other, "-c2", *args, "--", "results/manifest.json")
        runs[name] = workdir / "results/manifest.json"
    hardware = read_json(runs["unpinned"])["provenance"]["environment"]["hardware"]
    assert hardware["pin"] is None
    assert {item["kernel"] for item in hardware["blas"]} == {other}
    done = subprocess.run(
        [str(BIN / "reprotrain"), "diff", "--json", str(runs["pinned"]), str(runs["unpinned"])],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert done.returncode == comparison.EXPLAINED, done.stdout
    assert report["provenance_changes"] == ["hardware"]
    assert f"BLAS kernel Haswell vs {other}" in report["hardware_change"]
    causes = {d["path"]: d["root_causes"] for d in report["differences"]}
    model = "results/runs/breast_cancer/v1.0/seed-42/logistic_regression/model.pkl"
    assert causes[model] == ["hardware"]
    assert all(root == ["hardware"] for root in causes.values()), causes


@pytest.mark.pipeline
def test_snakefile_stops_before_any_job_on_an_unknown_pin(scratch_repo):
    args = config_override(
        scratch_repo, "bad", {"numerics": {"x86_64": {"blas_kernel": "Zen", "simd": "x86-64-v3"}}}
    )
    run = snakemake(scratch_repo, *args, check=False)
    assert run.returncode != 0
    assert "numerics.x86_64.blas_kernel" in run.output
    assert not (scratch_repo / "results").exists()
