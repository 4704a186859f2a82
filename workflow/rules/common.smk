# Bootstrap: the workflow's own package on the path, then the run's plan, made in every
# Snakemake process (reprotrain.driver.plan): every bad input stops the run here, before
# any job, with one message naming the file, the field and the fix.

import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def load_adapter():
    """The package's one adapter to Snakemake, loaded by path: it finds the workflow's own
    source tree (for a module fetched from a git host, an export of its commit) before
    the package can be imported from there."""
    path = workflow.source_path("../../src/reprotrain/driver/snakemake_adapter.py")
    spec = importlib.util.spec_from_file_location("reprotrain_bootstrap", str(path))
    loaded = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


REPO = load_adapter().workflow_source_root(workflow)
# Snakemake logs to .snakemake/log/: on a full disk, our one message must not end in a
# "Logging error" traceback of that handler.
logging.raiseExceptions = False
# The Snakefile and every rule job import the package from the workflow's source tree,
# whether they run in the pip-locked venv or in a conda env built from envs/.
sys.path.insert(0, str(REPO / "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
    ),
)

from reprotrain.driver import snakemake_adapter as adapter  # noqa: E402
from reprotrain.driver.plan import Invocation, make_plan  # noqa: E402
from reprotrain.driver.recipes import Recipes  # noqa: E402
from reprotrain.driver.start import last_run_checked, start  # noqa: E402
from reprotrain.layout import SPLIT, SPLIT_MODEL  # noqa: E402

SETTINGS = adapter.settings(workflow)
PLAN = adapter.in_driver(
    make_plan,
    config,
    Invocation(
        repo=REPO,
        config_files=SETTINGS.config_files,
        config_overrides=SETTINGS.config_overrides,
        use_conda=SETTINGS.use_conda,
        containerize=SETTINGS.containerize,
        local_cores=SETTINGS.local_cores,
        conda_executable=shutil.which("conda"),
        min_conda=adapter.MIN_CONDA_VERSION,
        prefix=Path(sys.prefix),
        validate=validate,
        snakemake_version=adapter.VERSION,
    ),
)
adapter.in_driver(start, PLAN, SETTINGS.main_process)
