"""Pinned numerics: the same floats whatever CPU a job lands on.

OpenBLAS picks its kernels by CPU (an AVX-512 machine runs SkylakeX kernels, an AVX2
one Haswell), and numpy dispatches its loops to the widest SIMD the CPU has; both can
change the last bits of a fit. The config pins one BLAS kernel and one SIMD level per
architecture (``numerics``); every job then runs with them, whatever the user's shell
exports, and checks that the libraries it loaded really use them.

Standard library only at import: the Snakefile checks the host with it before any job.
numpy and threadpoolctl are imported only by ``in_use``, inside a job.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reprotrain.errors import ReprotrainError

# Set by the Snakefile for every job: the pin in force (JSON), or "null" when unpinned.
PIN_VARIABLE = "REPROTRAIN_NUMERICS"
KERNEL_VARIABLE = "OPENBLAS_CORETYPE"
SIMD_VARIABLE = "NPY_ENABLE_CPU_FEATURES"


@dataclass(frozen=True)
class Requirement:
    """What a kernel or SIMD level needs of the CPU: flag names as Linux's /proc/cpuinfo
    spells them, and the instruction sets they stand for (for messages)."""

    flags: tuple[str, ...]
    instruction_sets: str


# OpenBLAS kernels (OPENBLAS_CORETYPE) that the OpenBLAS builds of the locks provide on
# each architecture, with what they execute. numpy's and scipy's wheels map a kernel
# they were not built with to another one silently; ``check_in_use`` catches that.
BLAS_KERNELS: dict[str, dict[str, Requirement]] = {
    "x86_64": {
        "Nehalem": Requirement(("ssse3", "sse4_1", "sse4_2", "popcnt"), "SSSE3, SSE4.1, SSE4.2"),
        "Sandybridge": Requirement(("avx",), "AVX"),
        "Haswell": Requirement(("avx", "avx2", "fma"), "AVX2 and FMA3"),
        "SkylakeX": Requirement(
            ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
            "AVX-512 (F, CD, BW, DQ, VL)",
        ),
    },
    "aarch64": {"ARMV8": Requirement((), "ARMv8-A")},
}

_V2 = ("pni", "ssse3", "sse4_1", "sse4_2", "popcnt")
_V3 = (*_V2, "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "movbe")
_V4 = (*_V3, "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


@dataclass(frozen=True)
class SimdLevel:
    requirement: Requirement
    # numpy's names of the dispatch targets the level allows (NPY_ENABLE_CPU_FEATURES).
    numpy_features: tuple[str, ...]


_NUMPY_V2 = ("SSSE3", "SSE41", "POPCNT", "SSE42")
_NUMPY_V3 = (*_NUMPY_V2, "AVX", "F16C", "FMA3", "AVX2")
_NUMPY_V4 = (*_NUMPY_V3, "AVX512F", "AVX512CD", "AVX512_SKX")
# The x86-64 micro-architecture levels of the psABI; on arm64, the ARMv8-A baseline.
SIMD_LEVELS: dict[str, dict[str, SimdLevel]] = {
    "x86_64": {
        "x86-64": SimdLevel(Requirement(("sse2",), "SSE2"), ()),
        "x86-64-v2": SimdLevel(Requirement(_V2, "SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT"), _NUMPY_V2),
        "x86-64-v3": SimdLevel(
            Requirement(_V3, "AVX, AVX2, FMA3, F16C, BMI1, BMI2, LZCNT, MOVBE"), _NUMPY_V3
        ),
        "x86-64-v4": SimdLevel(
            Requirement(_V4, "AVX-512 (F, CD, BW, DQ, VL) on top of x86-64-v3"), _NUMPY_V4
        ),
    },
    "aarch64": {"armv8-a": SimdLevel(Requirement((), "ARMv8-A (NEON/ASIMD)"), ())},
}

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def machine() -> str:
    """The CPU architecture, spelled one way on every system (x86_64, aarch64)."""
    name = platform.machine().lower()
    return _MACHINE_ALIASES.get(name, name)


def host_flags() -> frozenset[str] | None:
    """The CPU's feature flags in /proc/cpuinfo spelling; None where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return _macos_flags()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


# macOS names its flags differently (AVX1.0, SSE4.1); these are the ones the levels use.
_MACOS_FLAG_NAMES = {"sse3": "pni", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "avx1.0": "avx"}


def _macos_flags(system: str = sys.platform) -> frozenset[str] | None:
    if system != "darwin":
        return None
    try:
        done = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    names = {word.lower() for word in done.stdout.split()}
    flags = {_MACOS_FLAG_NAMES.get(name, name) for name in names}
    if "lzcnt" in flags:
        flags.add("abm")
    return frozenset(flags)


def host_level(flags: frozenset[str] | None, arch: str | None = None) -> str | None:
    """The highest SIMD level the host can run (what an unpinned run uses)."""
    if flags is None:
        return None
    runnable = [
        name
        for name, level in SIMD_LEVELS.get(arch or machine(), {}).items()
        if set(level.requirement.flags) <= flags
    ]
    return runnable[-1] if runnable else None


def runnable_kernels(flags: frozenset[str] | None, arch: str | None = None) -> list[str]:
    """The OpenBLAS kernels this host can execute, oldest first."""
    if flags is None:
        return []
    return [
        name
        for name, requirement in BLAS_KERNELS.get(arch or machine(), {}).items()
        if set(requirement.flags) <= flags
    ]


def kernel_picked(env: dict[str, str]) -> str | None:
    """The OpenBLAS kernel numpy loads with ``env`` on this machine, asked of a fresh
    interpreter (threadpoolctl); None when it cannot tell."""
    probe = (
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "print(next((i.get('architecture') or '') for i in threadpool_info()"
        " if i['internal_api'] == 'openblas'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def simd_environment(arch: str, level: str) -> dict[str, str]:
    """The variable that limits numpy's dispatch to one SIMD level."""
    features = SIMD_LEVELS[arch][level].numpy_features
    # numpy reads a list with no dispatch target as "baseline only" only when it is not
    # empty, hence the space.
    return {SIMD_VARIABLE: " ".join(features) or " "}


@dataclass(frozen=True)
class Pin:
    """The numerics every job of a run uses on one architecture."""

    machine: str
    blas_kernel: str
    simd: str

    def job_environment(self) -> dict[str, str]:
        """Variables that select the pinned kernels before any library loads."""
        return {KERNEL_VARIABLE: self.blas_kernel} | simd_environment(self.machine, self.simd)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def pin_from_config(numerics: dict[str, Any], file: str, arch: str | None = None) -> Pin | None:
    """The pin for this machine's architecture from config ``numerics``; None when off."""
    if not numerics.get("pin", True):
        return None
    arch = arch or machine()
    chosen = numerics.get(arch)
    if chosen is None:
        known = ", ".join(sorted(SIMD_LEVELS))
        raise ReprotrainError(
            file,
            f"numerics.{arch}",
            f"this machine is {arch} and the config pins no numerics for it "
            f"(pins are per architecture: {known})",
            f"add numerics.{arch} with a blas_kernel and a simd level, or set numerics.pin: "
            "false to run with whatever this CPU picks (the outputs then hold only on CPUs "
            "like this one)",
        )
    return Pin(arch, chosen["blas_kernel"], chosen["simd"])


def check_host(pin: Pin | None, file: str, flags: frozenset[str] | None = None) -> None:
    """Stop before any job when this CPU cannot execute the pinned kernels.

    Running them anyway would end in an illegal instruction, or in OpenBLAS silently
    falling back to another kernel and other floats.
    """
    if pin is None:
        return
    flags = host_flags() if flags is None else flags
    if flags is None:
        return  # unknown here; every job still checks what its libraries use
    demands = (
        ("blas_kernel", pin.blas_kernel, BLAS_KERNELS[pin.machine][pin.blas_kernel]),
        ("simd", pin.simd, SIMD_LEVELS[pin.machine][pin.simd].requirement),
    )
    for key, value, requirement in demands:
        missing = [flag for flag in requirement.flags if flag not in flags]
        if missing:
            runnable = runnable_kernels(flags, pin.machine) if key == "blas_kernel" else []
            level = host_level(flags, pin.machine)
            can = (
                f"this CPU can run: {', '.join(runnable) or 'none of them'}"
                if key == "blas_kernel"
                else f"this CPU reaches {level or 'no listed level'}"
            )
            raise ReprotrainError(
                file,
                f"numerics.{pin.machine}.{key}",
                f"{value} needs {requirement.instruction_sets}, and this CPU lacks "
                f"{', '.join(missing)} ({can})",
                "run on a CPU that has them (on SLURM, a partition or --constraint with "
                "them), or pin a lower level for every machine of the cluster and record "
                "the manifests again (`make record`); numerics.pin: false runs unpinned",
            )


def pin_from_environment() -> Pin | None:
    """The pin the Snakefile exported to this job (None: unpinned or not under reprotrain)."""
    text = os.environ.get(PIN_VARIABLE)
    if not text:
        return None
    fields = json.loads(text)
    return None if fields is None else Pin(**fields)


_AUDITWHEEL_HASH = re.compile(r"-[0-9a-f]{8}(?=\.so)")


def in_use(load_all: bool = True) -> dict[str, Any]:
    """The BLAS libraries loaded (kernel, version, threading) and numpy's active SIMD targets.

    ``load_all`` first loads numpy's and scipy's BLAS (two OpenBLAS copies in the pip
    environment, one in the conda env), for the fingerprint; a job's own check looks
    only at what it loaded.
    """
    if load_all:
        import scipy.linalg  # noqa: F401
    from numpy._core import _multiarray_umath as umath  # type: ignore[attr-defined]
    from threadpoolctl import threadpool_info

    blas = sorted(
        (
            {
                "library": _AUDITWHEEL_HASH.sub("", Path(info["filepath"]).name),
                "api": info["internal_api"],
                "version": info.get("version"),
                "kernel": info.get("architecture"),
                "threading_layer": info.get("threading_layer"),
            }
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ),
        key=lambda item: item["library"],
    )
    simd = [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]
    return {"blas": blas, "numpy_simd": simd}


def check_in_use(pin: Pin | None, found: dict[str, Any]) -> None:
    """Fail the job when a loaded library does not run the pinned numerics."""
    if pin is None:
        return
    for library in found["blas"]:
        if library["api"] != "openblas":
            raise ReprotrainError(
                library["library"],
                "numerics.blas_kernel",
                f"is {library['api']}, not OpenBLAS, so the pinned kernel {pin.blas_kernel} "
                "cannot be applied",
                "install the locked environment (`make setup`), whose numpy and scipy use OpenBLAS",
            )
        if (library["kernel"] or "").lower() != pin.blas_kernel.lower():
            raise ReprotrainError(
                library["library"],
                "numerics.blas_kernel",
                f"runs the {library['kernel']} kernel, not the pinned {pin.blas_kernel} "
                "(this OpenBLAS build lacks it, or a library was loaded before the pin was set)",
                "pin a kernel this OpenBLAS provides (config numerics), or reinstall the locked "
                "environment (`make setup`)",
            )
    allowed = set(SIMD_LEVELS[pin.machine][pin.simd].numpy_features)
    beyond = [name for name in found["numpy_simd"] if name not in allowed]
    if beyond:
        raise ReprotrainError(
            "numpy",
            "numerics.simd",
            f"dispatches to {', '.join(beyond)}, beyond the pinned level {pin.simd}",
            f"keep {SIMD_VARIABLE} as the workflow sets it (run through Snakemake), or reinstall "
            "the locked environment (`make setup`)",
        )


def fingerprint(pin: Pin | None) -> dict[str, Any]:
    """What of the hardware can change an output's bytes, as it is in this job.

    With a pin, that is the pin and what the libraries do with it, the same on every CPU
    that can run it. Unpinned, the host's SIMD level decides too, so it is named. Models,
    host names and cache sizes cannot change bytes and are left out.
    """
    found = in_use()
    check_in_use(pin, found)
    arch = machine()
    return {
        "machine": arch,
        "pin": None if pin is None else {"blas_kernel": pin.blas_kernel, "simd": pin.simd},
        "isa_level": pin.simd if pin else host_level(host_flags(), arch),
        "blas": found["blas"],
        "numpy_simd": found["numpy_simd"],
    }
