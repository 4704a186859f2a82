"""Named environments (envs/<name>/): `reprotrain env add` makes one from the real index
without touching the base locks; a run that names one it cannot get is refused before any
job with one message; a job in one imports nothing of the driver's venv."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import BIN, copy_repo, snakemake

from reprotrain.environment import drift, lockfiles, named

BASE_FILES = (
    "envs/environment.yaml",
    "envs/conda-lock.yml",
    "envs/requirements.in",
    "envs/requirements.lock",
)


def digests(repo: Path, names) -> dict[str, str]:
    return {name: hashlib.sha256((repo / name).read_bytes()).hexdigest() for name in names}


def reprotrain(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
    )


def test_env_add_makes_a_scratch_environment_from_the_real_index(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    before = digests(repo, BASE_FILES)

    done = reprotrain(
        repo, "env", "add", "scratch", "inflection==0.5.1",
        "toolz==1.0.0; sys_platform == 'darwin'", "--source", str(repo),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    environment = named.Environment("scratch")
    pins = lockfiles.load_pip_lock(repo / environment.pip_lock)
    assert pins["inflection"].version == "0.5.1" and pins["inflection"].hashes
    assert all(pin.hashes for pin in pins.values())
    base = lockfiles.load_pip_lock(repo / "envs/requirements.lock")
    assert all(base[name].version == pin.version for name, pin in pins.items() if name in base)
    # The rule environment's roots are in it, and the conda spec names the addition.
    assert {"numpy", "scikit-learn", "pandas"} <= set(pins)
    spec = yaml.safe_load((repo / environment.conda_spec).read_text())
    assert "inflection=0.5.1" in spec["dependencies"]
    # A pin for other platforms only: in the pip lock with its marker, left out of the
    # conda spec (conda-forge builds for every platform; pip takes it there).
    assert pins["toolz"].marker == "sys_platform == 'darwin'" and not pins["toolz"].applies_here()
    assert not any(str(d).startswith("toolz") for d in spec["dependencies"])
    if "conda lock not made" in done.stdout:
        assert "reprotrain env lock scratch" in done.stdout
        assert not (repo / environment.conda_lock).exists()
    else:  # a machine that reaches conda-forge
        assert (repo / environment.pin_file("linux-64")).is_file()
    assert digests(repo, BASE_FILES) == before  # the base locks are never written

    # Exact pins only, and the base lock's version of what they share.
    ranged = reprotrain(repo, "env", "add", "scratch", "inflection>=0.5", "--source", str(repo))
    assert ranged.returncode == 2 and "is not an exact pin" in ranged.stderr
    other = reprotrain(repo, "env", "add", "scratch", "numpy==2.0.0", "--source", str(repo))
    assert other.returncode == 2
    assert f"the base lock pins numpy=={base['numpy'].version}" in other.stderr
    assert "Traceback" not in ranged.stderr + other.stderr


def overlay(repo: Path, environment: str) -> list[str]:
    models = yaml.safe_load((repo / "config/boosting.yaml").read_text())
    models["models"]["lightgbm"]["environment"] = environment
    models["model"] = ["lightgbm"]
    (repo / "config/named.yaml").write_text(yaml.safe_dump(models))
    return ["--configfile", "config/config.yaml", "config/named.yaml", "--dry-run"]


@pytest.mark.dryrun
def test_a_named_environment_the_run_cannot_get_is_refused_before_any_job(tmp_path):
    repo = copy_repo(tmp_path / "repo")

    unknown = snakemake(repo, *overlay(repo, "nope"), check=False)
    assert unknown.returncode != 0
    assert "config/named.yaml: models.lightgbm.environment: names the environment nope" in (
        unknown.output
    )
    assert "`reprotrain env add nope <package>==<version> ...`" in unknown.output

    # Defined under envs/, never installed by `make setup`.
    (repo / "envs/uninstalled").mkdir()
    for name in ("requirements.in", "requirements.lock", "environment.yaml"):
        (repo / "envs/uninstalled" / name).write_bytes((repo / "envs/boosting" / name).read_bytes())
    missing = snakemake(repo, *overlay(repo, "uninstalled"), check=False)
    assert "the environment uninstalled is not installed" in missing.output
    assert "run `make setup`" in missing.output

    # --use-conda: the boosting environment has no conda lock (conda-forge was not
    # reachable where it was added). The plan refuses it before conda is ever run: the
    # `conda` on PATH here only records that it was called.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "conda-was-called"
    (bin_dir / "conda").write_text(f"#!/bin/sh\ntouch {called}\nexit 1\n")
    (bin_dir / "conda").chmod(0o755)
    environment = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    conda = snakemake(repo, *overlay(repo, "boosting"), "--use-conda", env=environment, check=False)
    assert conda.returncode != 0
    assert "the environment boosting has no conda lock for linux-64" in conda.output
    assert "`reprotrain env lock boosting`" in conda.output
    assert not called.exists()
    for run in (unknown, missing, conda):
        assert "Traceback" not in run.output
    assert not (repo / "results-boosting").exists()


def test_a_job_in_a_named_environment_forgets_the_drivers_site_packages(monkeypatch):
    own = Path(sys.prefix)
    driver_site = "/elsewhere/venv/lib/python3.12/site-packages"
    monkeypatch.setattr(
        sys, "path", [str(own / "lib/python3.12/site-packages"), "/repo/src", driver_site]
    )
    named.forget_other_environments()
    assert sys.path == [str(own / "lib/python3.12/site-packages"), "/repo/src"]


def test_a_job_environment_travels_as_json_and_sets_the_lock_in_force(monkeypatch):
    job = named.JobEnvironment("boosting", None, "envs/boosting/environment.linux-64.pin.txt")
    assert named.JobEnvironment.from_json(job.to_json()) == job
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(named.LOCK_VARIABLE, raising=False)
    named.enter(job.to_json())  # under conda: already in it, nothing to exec
    assert os.environ[drift.LOCK_VARIABLE] == job.lock
    assert named.LOCK_VARIABLE == drift.LOCK_VARIABLE
