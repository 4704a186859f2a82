"""The job environment is built from the shell's, never inherited whole (jobenv)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprotrain.environment import jobenv, numerics

SETTINGS = jobenv.Settings(locale="C.UTF-8", timezone="UTC")
PIN = numerics.Pin("x86_64", "Haswell", "x86-64-v3").job_environment()

# Names a shell may export: the controlled families (with suffixes of any kind), the
# controlled names, and names no pin touches.
controlled_names = st.one_of(
    st.sampled_from(sorted(jobenv.CONTROLLED_NAMES)),
    st.builds(
        str.__add__,
        st.sampled_from(jobenv.CONTROLLED_PREFIXES),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", max_size=12),
    ),
)
other_names = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1).filter(
    lambda name: not jobenv.controlled(name)
)
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))


@given(
    hostile=st.dictionaries(controlled_names, values),
    others=st.dictionaries(other_names, values),
)
def test_whatever_the_shell_exports_the_pinned_variables_are_the_pins(hostile, others):
    built = jobenv.build(hostile | others, SETTINGS, PIN)

    pinned = SETTINGS.variables() | PIN
    assert {name: value for name, value in built.items() if jobenv.controlled(name)} == pinned
    # Everything else the shell exports reaches the job as it was.
    assert {name: value for name, value in built.items() if not jobenv.controlled(name)} == others


@given(shell=st.dictionaries(controlled_names, values))
def test_unpinned_the_kernels_are_the_cpus_and_the_shells_choice(shell):
    """numerics.pin: false: what selects the kernels passes, the rest is still built."""
    built = jobenv.build(shell, SETTINGS, None)
    selection = {name: shell[name] for name in jobenv.KERNEL_SELECTION if name in shell}
    assert {name: built[name] for name in jobenv.KERNEL_SELECTION if name in built} == selection
    others = {name: value for name, value in built.items() if name not in jobenv.KERNEL_SELECTION}
    assert {name: value for name, value in others.items() if jobenv.controlled(name)} == (
        SETTINGS.variables()
    )


def test_numpys_two_feature_lists_never_meet():
    """numpy refuses to import with both lists set: the shell's disable list goes."""
    built = jobenv.build({"NPY_DISABLE_CPU_FEATURES": "AVX512F AVX2"}, SETTINGS, PIN)
    assert "NPY_DISABLE_CPU_FEATURES" not in built
    assert built[numerics.SIMD_VARIABLE] == PIN[numerics.SIMD_VARIABLE]


def test_the_families_the_issue_names_are_all_controlled():
    for name in (
        "NPY_DISABLE_CPU_FEATURES",
        "OPENBLAS_CORETYPE",
        "OMP_NUM_THREADS",
        "MKL_CBWR",
        "GOTO_NUM_THREADS",
        "KMP_AFFINITY",
        "LC_NUMERIC",
        "LC_ALL",
        "LANG",
        "TZ",
        "PYTHONHASHSEED",
        "MATPLOTLIBRC",
        "MPLCONFIGDIR",
    ):
        assert jobenv.controlled(name), name
    for name in ("PATH", "HOME", "PYTHONPATH", "SLURM_JOB_ID", "TMPDIR", "REPROTRAIN_RUN"):
        assert not jobenv.controlled(name), name


def test_a_pin_may_set_only_what_it_controls():
    with pytest.raises(ValueError, match="does not control: PATH"):
        jobenv.build({}, SETTINGS, {"PATH": "/tmp"})
