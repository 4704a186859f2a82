"""reprotrain used the way Snakemake users reuse workflows: as a module of a host workflow
(with a rule prefix, from the host's own directory) and deployed by snakedeploy from a
tagged release. Either way the host reproduces the recorded manifest bit for bit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, REPO, copy_repo, read_json

HOST_SNAKEFILE = """\
configfile: "config/config.yaml"


module reprotrain:
    snakefile:
        "{workflow}"
    config:
        config


use rule * from reprotrain as rt_*


# The host's own step, on an output of the module.
rule host_copy:
    input:
        "results/runs/breast_cancer/v1.0/seed-42/hist_gradient_boosting/metrics.json",
    output:
        "host/metrics.json",
    log:
        "logs/host_copy.log",
    shell:
        "cp {{input}} {{output}} 2> {{log}}"


rule all:
    default_target: True
    input:
        rules.rt_all.input,
        rules.host_copy.output,
"""


def run_host(host: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2"],
        cwd=host,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})},
        check=False,
    )


def assert_reproduces_the_record(host: Path) -> None:
    """The host's run manifest pins the very bytes the repository records, under the
    module's own rule names (a prefix is the host's business, not provenance)."""
    run = read_json(host / "results/manifest.json")
    recorded = read_json(REPO / "config/manifest.json")
    assert {path: entry["sha256"] for path, entry in run["files"].items()} == {
        path: entry["sha256"] for path, entry in recorded["files"].items()
    }
    assert {entry["rule"] for entry in run["files"].values()} == {
        entry["rule"] for entry in recorded["files"].values()
    }
    assert read_json(host / "results/checksum.json")["matches"] == "config/manifest.json"


@pytest.mark.pipeline
def test_a_host_runs_reprotrain_as_a_prefixed_module_from_its_own_directory(tmp_path):
    source = copy_repo(tmp_path / "reprotrain")
    host = tmp_path / "host"
    shutil.copytree(source / "config", host / "config")
    (host / "Snakefile").write_text(
        HOST_SNAKEFILE.format(workflow=source / "workflow/Snakefile"), encoding="utf-8"
    )

    done = run_host(host)

    assert done.returncode == 0, done.stderr[-6000:]
    assert "rule rt_train:" in done.stderr
    assert (host / "host/metrics.json").read_bytes() == (
        host / "results/runs/breast_cancer/v1.0/seed-42/hist_gradient_boosting/metrics.json"
    ).read_bytes()
    assert_reproduces_the_record(host)
    # Everything the run made is the host's: the module's checkout stays as it was.
    assert not (source / "results").exists()
    assert not (source / "logs").exists()


def git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.mark.pipeline
def test_snakedeploy_deploys_a_tagged_release_that_reproduces_the_record(tmp_path):
    # A release of the repository, served where GitHub would serve it: git's own URL
    # rewriting sends snakedeploy's clone and Snakemake's fetch to this local repository.
    release = copy_repo(tmp_path / "reprotrain")
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        f'[url "{release}"]\n\tinsteadOf = https://github.com/reprotrain/reprotrain\n'
        "[user]\n\tname = test\n\temail = test@example.org\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    git("init", "-q", "-b", "main", cwd=release, env=env)
    git("add", "-A", cwd=release, env=env)
    git("commit", "-q", "-m", "release", cwd=release, env=env)
    git("tag", "v1.0.0", cwd=release, env=env)

    host = tmp_path / "host"
    deployed = subprocess.run(
        [
            str(BIN / "snakedeploy"),
            "deploy-workflow",
            "https://github.com/reprotrain/reprotrain",
            str(host),
            "--tag",
            "v1.0.0",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    # It found everything where the standard layout puts it.
    assert "not found" not in deployed.stderr
    assert "No profile directory" not in deployed.stderr
    snakefile = (host / "workflow/Snakefile").read_text(encoding="utf-8")
    assert 'github("reprotrain/reprotrain", path="workflow/Snakefile", tag="v1.0.0")' in (snakefile)
    for deployed_file in ("config/config.yaml", "config/README.md", "profiles/default/config.yaml"):
        assert (host / deployed_file).is_file(), deployed_file
    assert (host / "LICENSE").read_text() == (REPO / "LICENSE").read_text()

    done = run_host(host, env)

    assert done.returncode == 0, done.stderr[-6000:]
    assert_reproduces_the_record(host)
    # The jobs ran the release's code: its exported source tree, named by its commit.
    (export,) = (host / ".snakemake/reprotrain-source").iterdir()
    assert (export / ".reprotrain-commit").read_text().strip() == export.name
    assert read_json(host / "results/manifest.json")["provenance"]["code"]["git_commit"] == (
        export.name
    )
