"""The one place reprotrain reaches into Snakemake beyond a Snakefile's own syntax.

Everything the workflow needs of Snakemake's internals (its settings, its source cache,
its wildcards, its executor) is read here, and nowhere else in the package or the rules;
tests/test_snakemake_adapter.py holds each function to the pinned Snakemake, so that a
Snakemake release that moves one fails there, by name, instead of somewhere in a run.

This module imports nothing of reprotrain: the Snakefile loads it by path, before the
package is importable, to find the workflow's own source tree.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import snakemake
from snakemake.deployment.conda import MIN_CONDA_VER
from snakemake.exceptions import WorkflowError
from snakemake.io import apply_wildcards as _apply_wildcards
from snakemake.iocontainers import Wildcards
from snakemake.logging import logger
from snakemake.sourcecache import LocalSourceFile
from snakemake_interface_executor_plugins.settings import DeploymentMethod

VERSION: str = snakemake.__version__
# The oldest conda Snakemake's --use-conda accepts.
MIN_CONDA_VERSION: str = MIN_CONDA_VER
# What Snakemake shows as a workflow error: one message, no traceback.
Error = WorkflowError


def in_driver[T](step: Callable[..., T], *arguments: Any) -> T:
    """The driver's one top-level handler: a bad input or an OS failure in a step of the
    driver (the plan, its start) becomes Snakemake's one-message error, Ctrl-C one line;
    no traceback of ours reaches the user."""
    from reprotrain import fileio
    from reprotrain.errors import ReprotrainError

    try:
        return step(*arguments)
    except ReprotrainError as error:
        raise Error(error.message) from None
    except OSError as error:
        raise Error(
            fileio.os_error(error.filename or "reprotrain", error, "used").message
        ) from None
    except KeyboardInterrupt:
        raise Error("interrupted (Ctrl-C) before any job ran; nothing was written") from None


log = logger
# In an exported module tree: the commit it was exported from (git has no other record
# there). The same name as reprotrain.source_tree.COMMIT_FILE, which cannot be imported
# before the tree is found.
COMMIT_FILE = ".reprotrain-commit"


def workflow_source_root(workflow: Any) -> Path:
    """The workflow's own source tree (its package, locks, schemas and embedded data): the
    repository the current rules file is in, or, for a module fetched from a git host, an
    export of the fetched commit under .snakemake/ (Snakemake keeps only a bare clone)."""
    rules_dir = workflow.current_basedir
    if isinstance(rules_dir, LocalSourceFile):
        return Path(rules_dir.get_path_or_uri(secret_free=True)).parents[1]
    repo = rules_dir.hosted_repo
    commit = repo.repo.git.rev_parse(f"{rules_dir.ref}^{{commit}}")
    root = Path(".snakemake/reprotrain-source", commit).resolve()
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "--git-dir", str(repo.repo_clone), "archive", commit],
            capture_output=True,
            check=True,
        ).stdout
        staging = tempfile.mkdtemp(dir=root.parent)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(staging, filter="data")
        Path(staging, COMMIT_FILE).write_text(f"{commit}\n", encoding="utf-8")
        Path(staging).replace(root)
    return root


@dataclass(frozen=True)
class Settings:
    """What the workflow needs of how Snakemake was invoked."""

    use_conda: bool
    containerize: bool
    # Config files in the order they override each other: the Snakefile's configfile
    # directives, then each --configfile.
    config_files: tuple[str, ...]
    # What --config gave (or a profile's `config:`), over the config files.
    config_overrides: dict[str, Any]
    # --cores when jobs run on this machine; None for a cluster, or when unknown.
    local_cores: int | None
    # The process that started the run, not a job's own Snakemake.
    main_process: bool


def settings(workflow: Any) -> Settings:
    overlays = [str(f) for f in workflow.config_settings.configfiles]
    ordered = [str(f) for f in workflow.configfiles if str(f) not in overlays] + overlays
    cores = workflow.resource_settings.cores
    return Settings(
        use_conda=DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method,
        # --containerize is a mode of Snakemake the workflow only sees on the command line.
        containerize="--containerize" in sys.argv,
        config_files=tuple(ordered),
        config_overrides=dict(workflow.config_settings.config or {}),
        local_cores=cores if workflow.local_exec and cores else None,
        main_process=workflow.is_main_process,
    )


def executing(workflow: Any) -> bool:
    """Whether the run executes jobs (not a dry run): known once Snakemake builds the DAG,
    which is when input functions run, not when the Snakefile is read."""
    return workflow.executor_plugin is not None and not workflow.dryrun


def undeclared_rules(
    workflow: Any, module_globals: Mapping[str, Any], declared: Iterable[Any]
) -> list[str]:
    """The rules that write files, defined by the Snakefile whose globals these are (not
    by a host workflow), other than those of the ``declared`` rule proxies."""
    known = {proxy.rule for proxy in declared}
    return [
        rule.name
        for rule in workflow.rules
        if rule.module_globals is module_globals and rule.output and rule not in known
    ]


def apply_wildcards(pattern: str, wildcards: Mapping[str, Any]) -> str:
    """A path pattern with its wildcards filled in, as Snakemake fills them."""
    return _apply_wildcards(pattern, wildcards)


def wildcards(values: Mapping[str, Any]) -> Any:
    """Snakemake's Wildcards object for these values, as input functions receive it."""
    return Wildcards(fromdict=dict(values))


def at_main_thread_end(callback: Callable[[], None]) -> None:
    """Call ``callback`` once the main thread is done, before the interpreter waits for
    the other threads (Snakemake's rate-limit timers among them). onsuccess and onerror
    handlers do not run for a workflow used as a module, as this one is; a daemon thread
    that joins the main thread does, with public API alone."""

    def watch() -> None:
        threading.main_thread().join()
        callback()

    threading.Thread(target=watch, name="reprotrain-end-of-run", daemon=True).start()


def timers() -> Iterable[threading.Timer]:
    """The timer threads alive (Snakemake's job rate limiter starts one per pass)."""
    return [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]
