"""The environment every job runs in: built from the shell's, never inherited whole.

Numeric libraries and the C library read their settings from environment variables:
numpy's SIMD dispatch (``NPY_*``; numpy refuses to import with both its enable and
disable lists set), OpenBLAS's kernel and threads, OpenMP's schedule and binding, MKL's
and Intel OpenMP's conditional reproducibility, scikit-learn's and joblib's working
memory and pools, matplotlib's rc files, the locale and the time zone, Python's str hash
seed. A user's shell sets any of them for reasons of its own. So the job environment keeps
none of them: each family is removed, then the pin (config ``numerics`` and
``job_environment``) sets the few that must have a value.

Pure: a mapping in, a mapping out. The Snakefile applies it to its own process, whose
environment every job (and every SLURM job's Snakemake, which applies it again) inherits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Every variable whose name starts with one of these is the pin's, never the shell's.
CONTROLLED_PREFIXES = (
    "NPY_",  # numpy: SIMD dispatch, and more
    "OPENBLAS_",
    "GOTO_",
    "BLIS_",
    "VECLIB_",
    "MKL_",
    "KMP_",  # Intel OpenMP (affinity, deterministic reductions)
    "OMP_",  # OpenMP: threads, schedule, binding, dynamic teams
    "GOMP_",
    "NUMEXPR_",
    "SKLEARN_",  # working memory and chunk sizes change how sums are split
    "JOBLIB_",
    "LOKY_",
    "MPL",  # matplotlib: MPLBACKEND, MPLCONFIGDIR (an rc file there styles the figures)
    "MATPLOTLIB",
    "LC_",  # the locale, category by category
)
# And these, by name.
CONTROLLED_NAMES = frozenset(
    {
        "LANG",
        "LANGUAGE",
        "LOCPATH",  # where glibc finds locale definitions
        "TZ",
        "TZDIR",
        "GLIBC_TUNABLES",  # can turn off CPU features the C library's math picks by
        "PYTHONHASHSEED",
        "PYTHONOPTIMIZE",  # strips asserts from user code
        "PYTHONINTMAXSTRDIGITS",
        "PYTHONUTF8",
        "PYTHONIOENCODING",
        "PYTHONWARNINGS",  # "error" turns a library's warning into a failed job
        "PYTHONDEVMODE",
    }
)
# The str hash seed of every job: set iteration order must not vary between runs.
HASH_SEED = "0"
# What picks the numeric kernels. With the numerics pin off (`numerics.pin: false`) the
# kernels are the CPU's choice, which these variables take part in (the hunt emulates
# another CPU with them); the hardware fingerprint records what was picked.
KERNEL_SELECTION = frozenset(
    {"OPENBLAS_CORETYPE", "NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES"}
)


def controlled(name: str, pinned_numerics: bool = True) -> bool:
    """Whether the workflow, not the shell, decides this variable."""
    if not pinned_numerics and name in KERNEL_SELECTION:
        return False
    return name in CONTROLLED_NAMES or name.startswith(CONTROLLED_PREFIXES)


@dataclass(frozen=True)
class Settings:
    """What the config pins of a job's environment besides the numerics."""

    locale: str
    timezone: str

    @classmethod
    def from_config(cls, section: Mapping[str, str]) -> Settings:
        return cls(section["locale"], section["timezone"])

    def variables(self) -> dict[str, str]:
        return {
            "LC_ALL": self.locale,
            "LANG": self.locale,
            "TZ": self.timezone,
            "PYTHONHASHSEED": HASH_SEED,
        }


def build(
    inherited: Mapping[str, str], settings: Settings, numerics: Mapping[str, str] | None
) -> dict[str, str]:
    """The job environment: ``inherited`` without every controlled variable, plus the
    settings' and the numerics pin's (``numerics.Pin.job_environment``; None: no pin)."""
    pinned_numerics = numerics is not None
    pinned = settings.variables() | dict(numerics or {})
    unknown = sorted(name for name in pinned if not controlled(name, pinned_numerics))
    if unknown:
        raise ValueError(f"the pin sets variables it does not control: {', '.join(unknown)}")
    kept = {
        name: value for name, value in inherited.items() if not controlled(name, pinned_numerics)
    }
    return kept | pinned


# What a job's step, and the user code it runs, sees of the environment besides the pin's
# own variables: where programs, the home, the temporary directory and the job's own
# environment are, and nothing else: no token, password or cloud credential of the shell
# reaches a custom estimator unless the run names it (config `job_environment.pass`).
USER_CODE_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "TMP",
        "TEMP",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "CONDA_EXE",
        "CONDA_PYTHON_EXE",
        "CONDA_SHLVL",
        "VIRTUAL_ENV",
        "PYTHONPATH",  # where the workflow's own package is found (the hermetic check)
    }
)
USER_CODE_PREFIXES = (
    "REPROTRAIN_",  # the run's own: lock, pin, drift mode, user code, workers
    "SNAKEMAKE_",
    "SLURM_",  # the job's allocation on a cluster
)
# The names the run passes on (config `job_environment.pass`), as the job gets them.
PASS_VARIABLE = "REPROTRAIN_PASS_ENVIRONMENT"


def for_user_code(environment: Mapping[str, str], passed: Iterable[str]) -> dict[str, str]:
    """The environment a job's step runs in: the pin's variables, the allow-list
    (USER_CODE_NAMES, USER_CODE_PREFIXES) and the names the run declares, nothing else."""
    wanted = set(passed)
    return {
        name: value
        for name, value in environment.items()
        if name in USER_CODE_NAMES
        or name.startswith(USER_CODE_PREFIXES)
        or name in wanted
        or controlled(name)
    }
