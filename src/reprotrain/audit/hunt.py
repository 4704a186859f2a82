"""Hunt nondeterminism: rerun the pipeline under varied conditions, name what breaks bit-identity.

A control run and an experiment that varies every available condition at once run in
fresh copies of the project. When their manifests differ, the experiment's variations
are bisected (half of them, then half of those, ...) until each differing output is
pinned on the variation(s) that change it, and diffoscope shows how.

The variations follow Debian's reprotest (its names and, where they apply, its values);
docs/nondeterminism.md explains why reprotrain runs them itself.
"""

from __future__ import annotations

import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reprotrain import fileio, source_tree
from reprotrain.audit import comparison, explain
from reprotrain.environment import numerics
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import atomic_write_bytes, write_json
from reprotrain.records import manifest
from reprotrain.records.types import Manifest

CLEAN, NONDETERMINISTIC = 0, 3
RUN_FAILED = "(the run failed)"
# The cause given for an output a failed run did not make.
NOT_MADE = "not made: the run failed"
# The culprit of an output that differs between two control runs.
RERUN = "plain rerun"
EXPLANATION_LINES = 80


@dataclass(frozen=True)
class Conditions:
    """Everything one run's outcome could depend on, besides data, code and environment."""

    path: tuple[str, ...]  # where the copy lives, below <work>
    env: dict[str, str]
    unset: frozenset[str]
    umask: int
    threads: int
    wrappers: tuple[tuple[str, ...], ...] = ()
    # The jobs' locale and time zone (config `job_environment`): the shell's reach only the
    # Snakemake process, since every job's environment is built (reprotrain.environment.jobenv).
    job_locale: str = "C.UTF-8"
    job_timezone: str = "UTC"

    def environment(self, home_root: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in self.unset}
        env.update(self.env)
        home = home_root / env["HOME"]
        home.mkdir(parents=True, exist_ok=True)
        return env | {"HOME": str(home)}

    def command_prefix(self, work: Path) -> list[str]:
        return [part.replace(WORK, str(work)) for wrapper in self.wrappers for part in wrapper]

    def config(self) -> list[str]:
        """The config values the conditions set (Snakemake's --config)."""
        return [
            f"threads={self.threads}",
            f"job_environment={{locale: {self.job_locale}, timezone: {self.job_timezone}}}",
        ]


@dataclass(frozen=True)
class Variation:
    name: str
    description: str
    control: str
    experiment: str
    vary: Callable[[Conditions], Conditions]
    # Why this machine cannot apply it, or None when it can.
    unavailable: Callable[[], str | None] = lambda: None


def _with_env(**values: str) -> Callable[[Conditions], Conditions]:
    return lambda c: replace(c, env=c.env | values, unset=c.unset - set(values))


def _wrapped(*wrapper: str) -> Callable[[Conditions], Conditions]:
    return lambda c: replace(c, wrappers=(*c.wrappers, wrapper))


def _needs(program: str, probe: list[str] | None = None) -> Callable[[], str | None]:
    def check() -> str | None:
        if shutil.which(program) is None:
            return f"{program} is not installed"
        if probe is not None:
            done = subprocess.run(probe, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return f"`{' '.join(probe)}` fails here: {done.stderr.strip()[:200]}"
        return None

    return check


def _locale_missing(name: str) -> Callable[[], str | None]:
    def check() -> str | None:
        done = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False)
        available = {line.strip().lower().replace("-", "") for line in done.stdout.splitlines()}
        if name.lower().replace("-", "") not in available:
            return f"locale {name} is not generated (Debian: apt-get install locales; locale-gen)"
        return None

    return check


# Stands for the hunt's work directory in a wrapper's arguments.
WORK = "{work}"


@functools.cache
def private_mounts() -> tuple[str, ...] | None:
    """The command prefix that runs a command in a private mount namespace where it may
    mount (root's, or a user namespace's), or None where neither is allowed."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (
        ("unshare", "--mount", "--propagation", "private"),
        ("unshare", "--map-root-user", "--mount", "--propagation", "private"),
    ):
        probe = [*prefix, "mount", "-t", "tmpfs", "tmpfs", "/mnt"]
        done = subprocess.run(probe, capture_output=True, check=False)
        if done.returncode == 0:
            return prefix
    return None


def _mounts_missing() -> str | None:
    if private_mounts() is None:
        return (
            "no private mount namespace can be made here (unshare --mount needs root or "
            "user namespaces)"
        )
    return None


# The list of online CPUs os.cpu_count() reads (glibc's get_nprocs), replaced in the run's
# mount namespace by a file that names fewer (or, on a one-CPU machine, more) of them.
CPUS_ONLINE = "/sys/devices/system/cpu/online"


def fake_cpus_online() -> str:
    """The CPU list the experiment's os.cpu_count() reads: one CPU, or two on a machine
    that has one."""
    return "0-1\n" if (os.cpu_count() or 1) == 1 else "0\n"


def _with_cpu_count(conditions: Conditions) -> Conditions:
    wrapper = (
        *(private_mounts() or ()),
        "sh",
        "-c",
        f'mount --bind "$0" {CPUS_ONLINE} && exec "$@"',
        f"{WORK}/cpus-online",
    )
    return replace(conditions, wrappers=(*conditions.wrappers, wrapper))


def _cpu_count_missing() -> str | None:
    if not Path(CPUS_ONLINE).exists():
        return f"{CPUS_ONLINE} does not exist here (os.cpu_count() reads it on Linux)"
    return _mounts_missing()


def _with_reordered_listings(conditions: Conditions) -> Conditions:
    # First, so that every other wrapper and the run itself start in the reordered copy.
    wrapper = (*(private_mounts() or ()), sys.executable, "-m", "reprotrain.audit.reordered")
    return replace(conditions, wrappers=(wrapper, *conditions.wrappers))


def _with_locale(locale: str, language: str) -> Callable[[Conditions], Conditions]:
    def vary(conditions: Conditions) -> Conditions:
        shell = _with_env(LANG=locale, LC_ALL=locale, LANGUAGE=language)(conditions)
        return replace(shell, job_locale=locale)

    return vary


def _with_timezone(timezone: str) -> Callable[[Conditions], Conditions]:
    def vary(conditions: Conditions) -> Conditions:
        return replace(_with_env(TZ=timezone)(conditions), job_timezone=timezone)

    return vary


def _days_ahead(days: int) -> str:
    moved = datetime.datetime.now() + datetime.timedelta(days=days)
    return moved.strftime("%Y-%m-%d %H:%M:%S")


def _cpus_missing() -> str | None:
    return None if len(os.sched_getaffinity(0)) >= 2 else "the machine has a single CPU"


# Another CPU, emulated on this one: only kernels and SIMD levels this CPU can execute.
# The preferred experiment kernel is the one most machines elsewhere run.
_KERNEL_PREFERENCE = ("Haswell", "SkylakeX", "Sandybridge", "Nehalem")


@functools.cache
def experiment_kernel() -> str | None:
    """A BLAS kernel this CPU can run that differs from the one OpenBLAS picks here."""
    control = numerics.kernel_picked({**os.environ})
    runnable = numerics.runnable_kernels(numerics.host_flags())
    for name in _KERNEL_PREFERENCE:
        if name in runnable and (control or "").lower() != name.lower():
            return name
    return None


def _kernel_missing() -> str | None:
    if experiment_kernel() is None:
        return "this CPU runs no OpenBLAS kernel other than the one it picks"
    return None


@functools.cache
def experiment_simd_level() -> str | None:
    """The SIMD level just below this CPU's own (numpy dispatches no further)."""
    levels = list(numerics.SIMD_LEVELS.get(numerics.machine(), {}))
    own = numerics.host_level(numerics.host_flags())
    if own is None or levels.index(own) == 0:
        return None
    return levels[levels.index(own) - 1]


def _with_kernel(conditions: Conditions) -> Conditions:
    return _with_env(**{numerics.KERNEL_VARIABLE: experiment_kernel() or ""})(conditions)


def _with_simd_level(conditions: Conditions) -> Conditions:
    level = experiment_simd_level() or ""
    return _with_env(**numerics.simd_environment(numerics.machine(), level))(conditions)


def _simd_missing() -> str | None:
    if experiment_simd_level() is None:
        return "this CPU has no SIMD level below its own that numpy can be limited to"
    return None


CONTROL_THREADS = 2
# A year and a month ahead, as reprotest does. Not with libfaketime, which reprotest uses:
# under libfaketime 0.9.10 Python's timed waits hang (threading.Event.wait) or fail
# (time.sleep, with FAKETIME_DONT_FAKE_MONOTONIC=1), and Snakemake needs both. datefudge
# moves only the wall clock.
FAKE_DAYS = 398
EXPERIMENT_HOST = "reprotrain-experiment"
EXPERIMENT_USER = "i_capture_the_user"

VARIATIONS = (
    Variation(
        "build_path",
        "where the project copy lives (absolute paths leaking into outputs)",
        "<work>/control/reprotrain",
        "<work>/experiment/a/longer/build-path/reprotrain-2",
        lambda c: replace(c, path=("experiment", "a", "longer", "build-path", "reprotrain-2")),
    ),
    Variation(
        "threads",
        "the rules' thread count: OpenMP, BLAS and joblib (`--cores` and config `threads`)",
        str(CONTROL_THREADS),
        "1",
        lambda c: replace(c, threads=1),
    ),
    Variation(
        "num_cpus",
        "the CPUs the run may use (affinity), which default thread pools follow",
        "all CPUs",
        "taskset -c 0 (one CPU)",
        _wrapped("taskset", "-c", "0"),
        _cpus_missing,
    ),
    Variation(
        "cpu_count",
        f"the number of CPUs os.cpu_count() reports (a private mount namespace over {CPUS_ONLINE})",
        "this machine's",
        "one CPU (two on a one-CPU machine)",
        _with_cpu_count,
        _cpu_count_missing,
    ),
    Variation(
        "fileordering",
        "the order directory listings come in (os.listdir): the copy on a tmpfs, each "
        "directory listed in another order",
        "the work directory's filesystem",
        "a tmpfs in a private mount namespace, every listing reordered",
        _with_reordered_listings,
        _mounts_missing,
    ),
    Variation(
        "timezone",
        "TZ of the Snakemake process and config job_environment.timezone of the jobs",
        "TZ=GMT+12",
        "TZ=GMT-14",
        _with_timezone("GMT-14"),
    ),
    Variation(
        "locales",
        "LANG, LC_ALL and LANGUAGE of the Snakemake process and config "
        "job_environment.locale of the jobs: a locale with a decimal comma",
        "C.UTF-8",
        "fr_FR.UTF-8",
        _with_locale("fr_FR.UTF-8", "fr_FR:fr"),
        _locale_missing("fr_FR.utf8"),
    ),
    Variation(
        "python_hash_seed",
        "PYTHONHASHSEED (str hashing, so set iteration order)",
        "PYTHONHASHSEED=0",
        "PYTHONHASHSEED=4242",
        _with_env(PYTHONHASHSEED="4242"),
    ),
    Variation(
        "exec_path",
        "PATH (which programs a step would find)",
        "PATH",
        "PATH with /i_capture_the_path appended",
        lambda c: replace(c, env=c.env | {"PATH": os.environ["PATH"] + ":/i_capture_the_path"}),
    ),
    Variation(
        "kernel",
        "the kernel version the run sees (uname)",
        "this kernel's",
        "2.6.x (setarch --uname-2.6)",
        _wrapped("setarch", "--uname-2.6"),
        _needs("setarch", ["setarch", "--uname-2.6", "true"]),
    ),
    Variation(
        "umask",
        "the file creation mask",
        "0022",
        "0002",
        lambda c: replace(c, umask=0o002),
    ),
    Variation(
        "home",
        "the HOME directory",
        "<work>/home/control",
        "<work>/home/experiment",
        _with_env(HOME="experiment"),
    ),
    Variation(
        "environment",
        "unrelated environment variables",
        "none added",
        "CAPTURE_ENVIRONMENT and REPROTRAIN_HUNT_NOISE added",
        _with_env(CAPTURE_ENVIRONMENT="i_capture_the_environment", REPROTRAIN_HUNT_NOISE="x" * 37),
    ),
    Variation(
        "time",
        "the wall clock (datefudge)",
        "the real time",
        f"{FAKE_DAYS} days ahead",
        lambda c: replace(c, wrappers=(*c.wrappers, ("datefudge", _days_ahead(FAKE_DAYS)))),
        _needs("datefudge", ["datefudge", _days_ahead(FAKE_DAYS), "true"]),
    ),
    Variation(
        "aslr",
        "address space layout randomization (addresses leaking into outputs)",
        "disabled (setarch -R)",
        "enabled",
        lambda c: replace(c, wrappers=tuple(w for w in c.wrappers if w[:2] != ("setarch", "-R"))),
        _needs("setarch", ["setarch", "-R", "true"]),
    ),
    Variation(
        "user",
        "the user name programs see (USER, LOGNAME; getpass.getuser())",
        "this user's",
        f"USER=LOGNAME={EXPERIMENT_USER}",
        _with_env(USER=EXPERIMENT_USER, LOGNAME=EXPERIMENT_USER),
    ),
    Variation(
        "blas_kernel",
        "the OpenBLAS kernel (OPENBLAS_CORETYPE), as another CPU would pick it; only kernels "
        "this CPU can run",
        "the kernel OpenBLAS picks here",
        "another kernel this CPU can run (Haswell, or SkylakeX where Haswell is its own)",
        _with_kernel,
        _kernel_missing,
    ),
    Variation(
        "numpy_simd",
        "numpy's SIMD dispatch (NPY_ENABLE_CPU_FEATURES), as an older CPU would have it",
        "every level this CPU has",
        "the level below this CPU's own (x86-64-v3 on an AVX-512 CPU)",
        _with_simd_level,
        _simd_missing,
    ),
    Variation(
        "domain_host",
        "the host name (a private UTS namespace)",
        "this machine's",
        EXPERIMENT_HOST,
        _wrapped("unshare", "--uts", "sh", "-c", f'hostname {EXPERIMENT_HOST} && exec "$@"', "-"),
        _needs("unshare", ["unshare", "--uts", "true"]),
    ),
)
BY_NAME = {variation.name: variation for variation in VARIATIONS}


def control_conditions(available: Iterable[Variation]) -> Conditions:
    names = {variation.name for variation in available}
    wrappers = (("setarch", "-R"),) if "aslr" in names else ()
    return Conditions(
        path=("control", "reprotrain"),
        env={
            "TZ": "GMT+12",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "LANGUAGE": "en_US:en",
            "PYTHONHASHSEED": "0",
            "HOME": "control",
        },
        unset=frozenset({"CAPTURE_ENVIRONMENT", "REPROTRAIN_HUNT_NOISE", numerics.SIMD_VARIABLE}),
        umask=0o022,
        threads=CONTROL_THREADS,
        wrappers=wrappers,
        job_locale="C.UTF-8",
        job_timezone="GMT+12",
    )


def conditions_for(control: Conditions, variations: Iterable[Variation]) -> Conditions:
    conditions = control
    for variation in variations:
        conditions = variation.vary(conditions)
    return conditions


@dataclass
class Run:
    label: str
    variations: list[str]
    directory: Path
    seconds: float
    returncode: int
    log: str
    differing: dict[str, list[str]] = field(default_factory=dict)  # path -> causes

    @property
    def failed(self) -> bool:
        return self.returncode != 0


class Hunt:
    def __init__(
        self,
        root: Path,
        work: Path,
        out: Path,
        target: str,
        snakemake_args: list[str],
        variations: list[Variation],
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.root = root
        self.work = work
        self.out = out
        self.target = target
        self.snakemake_args = snakemake_args
        self.control = control_conditions(variations)
        self.files = source_tree.project_files(root, exclude=[out, work])
        self.runs: list[Run] = []
        self.progress = progress
        self.control_manifest: Manifest | None = None
        (work / "cpus-online").write_text(fake_cpus_online(), encoding="ascii")

    def _snakemake(self) -> list[str]:
        beside = Path(sys.executable).parent / "snakemake"
        found = str(beside) if beside.exists() else shutil.which("snakemake")
        if found is None:
            raise ReprotrainError("snakemake", None, "is not installed", "run `make setup`")
        return [found]

    def run(self, variations: list[Variation]) -> Run:
        """One run in a fresh copy. Every run lives at the control's path (only build_path
        moves it), so an absolute path in an output is blamed on build_path alone; once
        done, the copy is moved aside for comparison and the path is free again."""
        label = f"run-{len(self.runs):02d}"
        conditions = conditions_for(self.control, variations)
        directory = self.work / Path(*conditions.path)
        if directory.exists():
            shutil.rmtree(directory)
        source_tree.copy_project(self.root, directory, self.files)
        command = [
            *conditions.command_prefix(self.work),
            *self._snakemake(),
            "--workflow-profile",
            "profiles/default",
            "--cores",
            str(conditions.threads),
            *self.snakemake_args,
            "--config",
            *conditions.config(),
            "--",
            self.target,
        ]
        names = [variation.name for variation in variations]
        self.progress(f"{label}: {'control' if not names else 'varying ' + ', '.join(names)}")
        started = time.monotonic()
        done = subprocess.run(
            command,
            cwd=directory,
            env=conditions.environment(self.work / "home"),
            capture_output=True,
            text=True,
            umask=conditions.umask,
            check=False,
        )
        kept = self.work / "runs" / label
        kept.parent.mkdir(exist_ok=True)
        (self.work / conditions.path[0]).rename(kept)
        run = Run(
            label,
            names,
            kept / Path(*conditions.path[1:]),
            round(time.monotonic() - started, 1),
            done.returncode,
            done.stdout + done.stderr,
        )
        logs = self.out / "runs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{label}.log").write_text(f"$ {' '.join(command)}\n\n{run.log}", encoding="utf-8")
        if not run.failed and self.control_manifest is not None:
            produced = manifest.load(run.directory / self.target, "run manifest")
            run.differing = {
                d.path: d.causes for d in comparison.classify(self.control_manifest, produced)
            }
        elif run.failed and self.control_manifest is not None:
            run.differing = {RUN_FAILED: [], **self._left_by_failed(run)}
        elif run.failed:
            run.differing = {RUN_FAILED: []}
        self.runs.append(run)
        return run

    def _left_by_failed(self, run: Run) -> dict[str, list[str]]:
        """The control's outputs that a failed run did not make, or made with other bytes:
        it wrote no manifest, so each is hashed where the run left it."""
        assert self.control_manifest is not None
        state = manifest.compare_with_disk(self.control_manifest["files"], run.directory)
        return {
            **{path: [NOT_MADE] for path in [*state.missing, *state.escaping]},
            **{path: [] for path in state.altered},
        }

    def start_control(self) -> tuple[Run, Run]:
        """The control, twice under the very same conditions and path.

        An output that differs between the two changes on a plain rerun: no variation is
        needed to break it, so none can be blamed for it.
        """
        control = self.run([])
        if control.failed:
            raise ReprotrainError(
                self.out / "runs" / f"{control.label}.log",
                None,
                "the control run failed, so there is nothing to compare with",
                "make the pipeline run (`make run`) before hunting nondeterminism; the log "
                "holds Snakemake's output",
            )
        self.control_manifest = manifest.load(control.directory / self.target, "run manifest")
        rerun = self.run([])
        return control, rerun

    def bisect(self, variations: list[Variation], differing: set[str]) -> dict[str, set[str]]:
        """Which variation (or combination) changes each of ``differing``."""
        if len(variations) == 1:
            return {path: {variations[0].name} for path in differing}
        half = len(variations) // 2
        found: dict[str, set[str]] = {}
        explained: set[str] = set()
        for part in (variations[:half], variations[half:]):
            changed = set(self.run(part).differing)
            if changed:
                for path, names in self.bisect(part, changed).items():
                    found.setdefault(path, set()).update(names)
                explained |= changed
        # Changed only when both halves vary together: an interaction.
        together = " + ".join(v.name for v in variations)
        for path in differing - explained:
            found.setdefault(path, set()).add(together)
        return found


def _explain(hunt: Hunt, control: Run, culprits: dict[str, set[str]]) -> list[dict[str, str]]:
    """diffoscope on each output against the run that varied its culprit alone."""
    alone = {tuple(run.variations): run for run in hunt.runs if len(run.variations) == 1}
    alone[(RERUN,)] = hunt.runs[1]
    logs = comparison.logs_directory(hunt.control_manifest) if hunt.control_manifest else "logs"
    explanations = []
    for path, names in sorted(culprits.items()):
        for name in sorted(names):
            run = alone.get((name,))
            if path == RUN_FAILED or run is None or run.failed:
                continue
            causes = run.differing.get(path)
            if not causes or comparison.UPSTREAM in causes or causes == [NOT_MADE]:
                continue  # downstream outputs change because their inputs did
            difference = comparison.Difference(path, "changed", causes)
            try:
                text = explain.explain(
                    [difference], control.directory, run.directory, logs=(logs, logs)
                )
            except ReprotrainError as error:
                text = error.message
            lines = text.splitlines()
            if len(lines) > EXPLANATION_LINES:
                lines = [*lines[:EXPLANATION_LINES], f"... ({len(lines) - EXPLANATION_LINES} more)"]
            explanations.append({"path": path, "variation": name, "diffoscope": "\n".join(lines)})
    return explanations


def hunt(
    root: Path,
    out: Path,
    target: str = "results/manifest.json",
    snakemake_args: list[str] | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    each: bool = False,
    keep: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Run the hunt and write out/report.json and out/report.md; return the report."""
    for name in [*(only or []), *(skip or [])]:
        if name not in BY_NAME:
            raise ReprotrainError(
                "reprotrain hunt",
                "--only/--skip",
                f"unknown variation {name!r}",
                f"use some of: {', '.join(BY_NAME)}",
            )
    chosen = [v for v in VARIATIONS if (not only or v.name in only) and v.name not in (skip or [])]
    unavailable = {v.name: reason for v in chosen if (reason := v.unavailable())}
    usable = [v for v in chosen if v.name not in unavailable]
    # The report folder is replaced: only when it is new or a hunt's (never docs/ or .git).
    fileio.check_output_directory(out, "hunt report", file=str(out), field="--out")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    fileio.mark_output_directory(out, "hunt report")
    work = Path(tempfile.mkdtemp(prefix="reprotrain-hunt-"))
    try:
        runner = Hunt(root, work, out, target, snakemake_args or [], usable, progress)
        control, rerun = runner.start_control()
        culprits: dict[str, set[str]] = {}
        if rerun.differing:
            # Bisecting variations would only rediscover the rerun's own differences.
            culprits = {path: {RERUN} for path in rerun.differing}
        elif usable:
            everything = runner.run(usable)
            if everything.differing:
                culprits = runner.bisect(usable, set(everything.differing))
            if each:
                tested_alone = {tuple(run.variations) for run in runner.runs}
                for variation in usable:
                    if (variation.name,) not in tested_alone:
                        runner.run([variation])
        report = _report(runner, chosen, unavailable, culprits, each)
        report["explanations"] = _explain(runner, control, culprits)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if keep:
        report["work_directory"] = str(work)
    write_json(out / "report.json", report)
    atomic_write_bytes(out / "report.md", format_markdown(report).encode("utf-8"))
    return report


def _report(
    runner: Hunt,
    chosen: list[Variation],
    unavailable: dict[str, str],
    culprits: dict[str, set[str]],
    each: bool,
) -> dict[str, Any]:
    covered = runner.control_manifest["files"] if runner.control_manifest else {}
    changed_by: dict[str, list[str]] = {}
    for path, names in culprits.items():
        for name in names:
            changed_by.setdefault(name, []).append(path)
    alone = {tuple(run.variations): run for run in runner.runs}
    rerun_differs = any(RERUN in names for names in culprits.values())
    variations = []
    for variation in chosen:
        if variation.name in unavailable:
            status = "not tested"
        elif rerun_differs:
            status = "not tested: outputs differ on a plain rerun already"
        elif variation.name in changed_by:
            status = "breaks bit-identity"
        elif (variation.name,) in alone:
            status = "identical (varied alone)"
        else:
            status = "identical (varied together with the others)"
        variations.append(
            {
                "name": variation.name,
                "description": variation.description,
                "control": variation.control,
                "experiment": variation.experiment,
                "status": status,
                "reason": unavailable.get(variation.name),
                "changes": sorted(changed_by.get(variation.name, [])),
            }
        )
    outputs = []
    last_causes: dict[str, list[str]] = {}
    for run in runner.runs:
        last_causes.update(run.differing)
    for path in sorted(set(covered) | set(culprits)):
        causes = last_causes.get(path, [])
        outputs.append(
            {
                "path": path,
                "identical": path not in culprits,
                "culprits": sorted(culprits.get(path, [])),
                "how": _how(path, culprits, causes),
            }
        )
    nondeterministic = bool(culprits)
    return {
        "verdict": "nondeterministic" if nondeterministic else "clean",
        "differs_on_rerun": sorted(p for p, names in culprits.items() if RERUN in names),
        "status": NONDETERMINISTIC if nondeterministic else CLEAN,
        "target": runner.target,
        "snakemake_args": runner.snakemake_args,
        "each_alone": each,
        "variations": variations,
        "outputs": outputs,
        "runs": [
            {
                "label": run.label,
                "variations": run.variations,
                "seconds": run.seconds,
                "returncode": run.returncode,
                "differing": sorted(run.differing),
            }
            for run in runner.runs
        ],
    }


def _how(path: str, culprits: dict[str, set[str]], causes: list[str]) -> str | None:
    if path not in culprits:
        return None
    if path == RUN_FAILED:
        return "the pipeline fails (each run's log is in runs/)"
    if causes == [NOT_MADE]:
        how = "not made: the run failed before it (each run's log is in runs/)"
    elif not causes:
        how = "differs where the failed run left it (it wrote no manifest to say why)"
    elif comparison.UPSTREAM in causes:
        how = "changes because an output it is made from changed"
    elif causes == [comparison.NONDETERMINISM]:
        how = "changes itself"
    else:
        # The variation reached a recorded input: without the pin, the BLAS kernel is
        # recorded as the hardware every float job ran on.
        how = f"changes itself, with its recorded {' and '.join(causes)}"
    return f"differs on a plain rerun: {how}" if RERUN in culprits[path] else how


def format_markdown(report: dict[str, Any]) -> str:
    if report["verdict"] == "clean":
        verdict = "**CLEAN**: every output was bit-for-bit identical under every tested variation."
    elif report.get("differs_on_rerun"):
        verdict = (
            "**NONDETERMINISTIC ON A PLAIN RERUN**: the control, run twice under the same "
            "conditions at the same path, gave different bytes; no variation was tried."
        )
    else:
        verdict = "**NONDETERMINISTIC**: some outputs change under the variations named below."
    lines = [
        "# Nondeterminism hunt",
        "",
        verdict,
        "",
        f"Target `{report['target']}`; {len(report['runs'])} run(s) in fresh copies, "
        f"compared by their manifests' sha256.",
        "",
        "## Variations",
        "",
        "| variation | what varies | control | experiment | result |",
        "|---|---|---|---|---|",
    ]
    for v in report["variations"]:
        result = v["status"] + (f": {v['reason']}" if v["reason"] else "")
        if v["changes"]:
            result += " (" + ", ".join(f"`{p}`" for p in v["changes"]) + ")"
        lines.append(
            f"| `{v['name']}` | {v['description']} | {v['control']} | {v['experiment']} "
            f"| {result} |"
        )
    lines += ["", "## Outputs", "", "| output | identical | culprit | how |", "|---|---|---|---|"]
    for o in report["outputs"]:
        lines.append(
            f"| `{o['path']}` | {'yes' if o['identical'] else '**no**'} "
            f"| {', '.join(o['culprits']) or '-'} | {o['how'] or '-'} |"
        )
    lines += ["", "## Runs", "", "| run | varied | seconds | exit | outputs that differ |"]
    lines.append("|---|---|---|---|---|")
    for index, r in enumerate(report["runs"]):
        control_label = "(control)" if index == 0 else "(control again)"
        lines.append(
            f"| {r['label']} | {', '.join(r['variations']) or control_label} | {r['seconds']} "
            f"| {r['returncode']} | {len(r['differing'])} |"
        )
    if report.get("explanations"):
        lines += ["", "## What differs (diffoscope)", ""]
        for e in report["explanations"]:
            lines += [
                f"### `{e['path']}` under `{e['variation']}`",
                "",
                "```",
                e["diffoscope"],
                "```",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
