"""The run's plan as pure code (reprotrain.driver.plan): what the Snakefile decides before
any job, made and checked without Snakemake."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO, copy_repo
from test_bad_inputs import plan_in

from reprotrain.driver import plan as plans
from reprotrain.environment import jobenv, numerics


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("plan") / "project")


def test_the_shipped_config_plans_one_model_run(project):
    plan = plan_in(project, [])

    assert plan.layout.runs == [
        {
            "dataset": "breast_cancer",
            "version": "v1.0",
            "seed": 42,
            "model": "hist_gradient_boosting",
        }
    ]
    assert plan.task_kinds == {"breast_cancer": "classification"}
    assert plan.active_lock == "envs/requirements.lock"
    assert plan.recorded is not None and plan.recorded["schema_version"] == 6
    wildcards = {"dataset": "breast_cancer", "version": "v1.0", "seed": "42"}
    assert plan.schema(wildcards)["task"] == "binary"
    assert plan.preprocessing(wildcards) is None  # a table of numbers alone
    fields = plan.threshold_fields(wildcards)
    assert fields["min_accuracy"] == "thresholds.min_accuracy"
    assert plan.wildcard_constraints() == {
        "dataset": "breast_cancer",
        "version": r"v1\.0",
        "seed": "42",
        "model": "hist_gradient_boosting",
    }
    assert plan.names_of_kind("regression") == "(?!)"


def test_every_job_gets_the_pin_and_none_of_the_shells_numerics(project):
    plan = plan_in(project, [])
    shell = {"PATH": "/bin", "NPY_DISABLE_CPU_FEATURES": "AVX2", "LC_ALL": "fr_FR.UTF-8"}

    built = plan.job_environment(shell)

    assert built["PATH"] == "/bin"
    assert "NPY_DISABLE_CPU_FEATURES" not in built
    assert built["LC_ALL"] == "C.UTF-8" and built["TZ"] == "UTC"
    assert built[numerics.KERNEL_VARIABLE] == plan.numerics.blas_kernel
    assert json.loads(built["REPROTRAIN_CONFIG_FILES"]) == ["config/config.yaml"]
    assert set(built) >= set(jobenv.Settings("C", "UTC").variables())


@pytest.mark.parametrize(
    ("configured", "cores", "runs", "threads"),
    [(2, 2, 1, 2), (2, 2, 4, 1), (4, 8, 2, 4), (8, 4, 1, 4), (2, None, 64, 2)],
)
def test_model_jobs_share_the_local_cores_and_have_a_nodes_on_a_cluster(
    configured, cores, runs, threads
):
    assert plans.model_job_threads(configured, cores, runs) == threads


def test_the_driver_side_never_imports_numpy_pandas_or_scikit_learn(project):
    """Making the plan, its recipes and its start-up imports no ML library in the
    Snakemake process (a custom estimator is checked in a subprocess)."""
    program = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        import yaml
        sys.path.insert(0, {str(REPO / "src")!r})
        import reprotrain.cli, reprotrain.driver.recipes, reprotrain.driver.start
        from reprotrain.driver.plan import Invocation, make_plan
        os.chdir({str(project)!r})
        config = yaml.safe_load(Path("config/config.yaml").read_text())
        make_plan(config, Invocation(repo=Path.cwd(), config_files=("config/config.yaml",)))
        heavy = {{"numpy", "pandas", "sklearn", "matplotlib", "scipy"}}
        print(",".join(sorted({{n.split(".")[0] for n in sys.modules}} & heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
