"""The conda lock, its pin files and the pip lock agree with each other and with the spec."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conda_lock.content_hash import compute_content_hashes
from conda_lock.lockfile import parse_conda_lock_file
from conda_lock.lookup import DEFAULT_MAPPING_URL
from conda_lock.src_parser import make_lock_spec
from conda_lock.virtual_package import default_virtual_package_repodata
from helpers import BIN, REPO

from reprotrain.environment import lockfiles
from reprotrain.errors import ReprotrainError

ENVS = REPO / "envs"


@pytest.fixture(scope="module")
def conda_lock():
    return lockfiles.load_conda_lock(ENVS / "conda-lock.yml")


@pytest.fixture(scope="module")
def pip_lock():
    return lockfiles.load_pip_lock(ENVS / "requirements.lock")


def test_conda_lock_is_current_for_the_spec_by_conda_locks_own_hash():
    spec = make_lock_spec(src_files=[ENVS / "environment.yaml"], mapping_url=DEFAULT_MAPPING_URL)
    virtual_packages = default_virtual_package_repodata(cuda_version="default")
    with virtual_packages:  # its __enter__ returns None, so no `as`
        expected = compute_content_hashes(spec, virtual_packages)
    lockfile = parse_conda_lock_file(ENVS / "conda-lock.yml")
    assert lockfile.metadata.content_hash == expected
    assert sorted(lockfile.metadata.platforms) == sorted(lockfiles.CONDA_PLATFORMS)


def test_every_conda_entry_is_pinned_by_url_md5_and_sha256(conda_lock):
    for entry in conda_lock["package"]:
        assert entry["url"].startswith("https://conda.anaconda.org/conda-forge/"), entry["name"]
        assert re.fullmatch(r"[0-9a-f]{64}", entry["hash"]["sha256"]), entry["name"]
        assert re.fullmatch(r"[0-9a-f]{32}", entry["hash"]["md5"]), entry["name"]


def test_spec_pins_python_312_and_the_roots_exactly():
    spec = yaml.safe_load((ENVS / "environment.yaml").read_text())
    pins = dict(dependency.split("=", 1) for dependency in spec["dependencies"])
    assert pins["python"].startswith("3.12.")
    assert {"numpy", "pandas", "scikit-learn", "pandera"} <= set(pins)


def test_pin_files_are_what_conda_lock_render_produces(tmp_path):
    (tmp_path / "conda-lock.yml").write_bytes((ENVS / "conda-lock.yml").read_bytes())
    platforms = [arg for platform in lockfiles.CONDA_PLATFORMS for arg in ("-p", platform)]
    subprocess.run(
        [
            str(BIN / "conda-lock"),
            "render",
            "--kind",
            "explicit",
            *platforms,
            "--filename-template",
            "environment.{platform}.pin.txt",
            "conda-lock.yml",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    for platform in lockfiles.CONDA_PLATFORMS:
        name = f"environment.{platform}.pin.txt"
        # Snakemake's --use-conda looks for exactly this name beside environment.yaml.
        assert (ENVS / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_pip_lock_pins_the_conda_versions_of_every_shared_package(conda_lock, pip_lock):
    conda = lockfiles.conda_python_packages(conda_lock)
    shared = lockfiles.shared_packages(conda, pip_lock)
    assert {"numpy", "pandas", "scikit-learn", "scipy", "pandera", "pydantic", "tzdata"} <= set(
        shared
    )
    assert lockfiles.version_mismatches(conda, pip_lock) == []
    assert pip_lock["numpy"].version == "2.3.5"
    assert pip_lock["scikit-learn"].version == "1.7.2"


def test_every_pip_pin_carries_sha256_hashes(pip_lock):
    assert pip_lock, "the pip lock is empty"
    assert [name for name, pin in pip_lock.items() if not pin.hashes] == []
    assert {"snakemake", "snakemake-storage-plugin-http", "pytest", "conda-lock"} <= set(pip_lock)


def test_pip_lock_names_no_package_index():
    text = (ENVS / "requirements.lock").read_text()
    assert "--index-url" not in text
    assert "--extra-index-url" not in text
    assert "://" not in text


def test_constraints_file_is_generated_from_the_conda_lock(conda_lock):
    expected = lockfiles.pip_constraints(lockfiles.conda_python_packages(conda_lock))
    assert (ENVS / "conda-constraints.txt").read_text() == expected


def test_version_mismatch_and_missing_hash_are_detected(tmp_path, conda_lock):
    edited = tmp_path / "requirements.lock"
    text = (ENVS / "requirements.lock").read_text()
    edited.write_text(text.replace("numpy==2.3.5", "numpy==2.4.0"))
    mismatches = lockfiles.version_mismatches(
        lockfiles.conda_python_packages(conda_lock), lockfiles.load_pip_lock(edited)
    )
    assert mismatches == [("numpy", "2.3.5", "2.4.0")]


def test_pip_lock_line_that_is_not_a_pin_is_refused(tmp_path):
    broken = tmp_path / "requirements.lock"
    broken.write_text("numpy>=2\n")
    with pytest.raises(ReprotrainError, match="line 1"):
        lockfiles.load_pip_lock(broken)


@pytest.mark.parametrize(
    ("system", "machine", "subdir"),
    [
        ("Linux", "x86_64", "linux-64"),
        ("Linux", "aarch64", "linux-aarch64"),
        ("Darwin", "arm64", "osx-arm64"),
        ("Darwin", "x86_64", "osx-64"),
        ("Windows", "AMD64", "win-64"),
    ],
)
def test_conda_subdir_names_the_pin_file_snakemake_uses(monkeypatch, system, machine, subdir):
    import platform

    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert lockfiles.conda_subdir() == subdir
    if subdir in lockfiles.CONDA_PLATFORMS:
        assert Path(ENVS / f"environment.{subdir}.pin.txt").is_file()


def test_the_conda_lock_is_closed_on_every_platform(conda_lock):
    assert lockfiles.closure_problems(conda_lock) == []
    # Not vacuous: every platform's packages have dependencies that were checked.
    depending = {e["platform"] for e in conda_lock["package"] if e["dependencies"]}
    assert depending == {"linux-64", "osx-64", "osx-arm64", "win-64"}


def broken_copy(tmp_path, edit) -> Path:
    """The shipped conda lock with one entry edited by hand, written where the CLI reads it."""
    lock = yaml.safe_load((ENVS / "conda-lock.yml").read_text())
    edit(lock["package"])
    path = tmp_path / "conda-lock.yml"
    path.write_text(yaml.safe_dump(lock))
    return path


def entry(packages, name, platform="linux-64"):
    (found,) = [p for p in packages if p["name"] == name and p["platform"] == platform]
    return found


@pytest.mark.parametrize(
    ("edit", "unmet"),
    [
        # A dependency tightened beyond what is locked (scikit-learn wanting numpy 2.4).
        (
            lambda packages: entry(packages, "scikit-learn")["dependencies"].update(numpy=">=2.4"),
            "linux-64: scikit-learn=1.7.2=",
        ),
        # A native package at an older version than what depends on it needs.
        (
            lambda packages: entry(packages, "libgcc").update(
                url=entry(packages, "libgcc")["url"].replace("libgcc-15.2.0", "libgcc-13.2.0")
            ),
            "needs libgcc >=14, the lock has 13.2.0=he0feb66_16",
        ),
        # A dependency left out of the lock altogether.
        (
            lambda packages: packages.remove(entry(packages, "libgfortran5", "linux-64")),
            "needs libgfortran5 ",
        ),
    ],
    ids=["tightened", "older-native", "missing"],
)
def test_a_hand_broken_lock_copy_is_refused_naming_what_is_unmet(tmp_path, edit, unmet):
    path = broken_copy(tmp_path, edit)
    problems = [
        str(problem) for problem in lockfiles.closure_problems(lockfiles.load_conda_lock(path))
    ]
    assert any(unmet in problem for problem in problems), problems
    done = subprocess.run(
        [str(BIN / "reprotrain"), "check-locks", "--conda-lock", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert unmet in done.stderr
    assert "dependencies of locked packages are not satisfied by the lock" in done.stderr
