"""Environment drift detection against the pip lock and the conda pin files."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from reprotrain import memo
from reprotrain.environment import drift, lockfiles
from reprotrain.environment.lockfiles import normalize
from reprotrain.errors import ReprotrainError

PIP_LOCK = str(REPO / "envs/requirements.lock")
PIN = str(REPO / "envs/environment.linux-64.pin.txt")


def test_this_venv_matches_its_lock():
    assert drift.find_drift(PIP_LOCK) == []


def test_pip_pins_for_other_platforms_are_not_expected_here():
    locked = drift.locked_versions(PIP_LOCK)
    assert "pywin32-ctypes" not in locked  # sys_platform == 'win32' only
    assert locked["numpy"] == "2.3.5"


def test_pin_file_gives_python_packages_under_their_pypi_names():
    locked = drift.locked_versions(PIN)
    assert locked["matplotlib"] == "3.10.8"
    assert locked["tzdata"] == "2025.2"  # python-tzdata, not conda's tzdata 2025b
    assert locked["pandera"] == "0.26.1"
    assert "libgcc" not in locked
    assert "python" not in locked


def test_drift_names_package_locked_and_found_versions(monkeypatch):
    installed = drift.installed_versions() | {"numpy": "2.4.0"}
    installed.pop("pandas")
    monkeypatch.setattr(drift, "installed_versions", lambda: installed)
    found = drift.find_drift(PIP_LOCK)
    assert [d.describe() for d in found] == [
        "numpy: locked 2.3.5, found 2.4.0",
        "pandas: locked 2.3.3, found not installed",
    ]
    with pytest.raises(ReprotrainError) as error:
        drift.check(PIP_LOCK, "error")
    assert error.value.file == PIP_LOCK
    assert error.value.field == "numpy, pandas"
    assert "environment_drift: warn" in error.value.fix
    assert drift.check(PIP_LOCK, "warn") == found


def test_installed_digest_follows_the_installed_versions(monkeypatch):
    before = drift.installed_digest(PIP_LOCK)
    changed = drift.installed_versions() | {"numpy": "2.4.0"}
    monkeypatch.setattr(drift, "installed_versions", lambda: changed)
    assert drift.installed_digest(PIP_LOCK) != before


def test_per_job_check_does_nothing_outside_the_workflow(monkeypatch):
    monkeypatch.delenv(drift.LOCK_VARIABLE, raising=False)
    assert drift.check_from_environment() == []


def test_installed_versions_agree_with_the_distributions_own_metadata():
    from_metadata = {}
    for distribution in importlib.metadata.distributions():
        name, version = drift._name_and_version(distribution)
        from_metadata.setdefault(normalize(name), version)
    assert drift.installed_versions() == from_metadata


def test_installed_versions_read_metadata_where_the_directory_name_does_not_say(
    tmp_path, monkeypatch
):
    (tmp_path / "plain_pkg-1.2.0.dist-info").mkdir()
    legacy = tmp_path / "legacy-name-0.9.egg-info"  # a name with a dash: not parseable
    legacy.mkdir()
    (legacy / "PKG-INFO").write_text("Name: legacy-name\nVersion: 0.9.post1\n\nbody\n")
    (tmp_path / "not_metadata-1.0.txt").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path)])
    assert drift.installed_versions() == {"plain-pkg": "1.2.0", "legacy-name": "0.9.post1"}


def test_each_job_works_out_the_locked_versions_once_per_lock(tmp_path, monkeypatch):
    lock = tmp_path / "requirements.lock"
    lock.write_bytes(Path(PIP_LOCK).read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(drift.LOCK_VARIABLE, str(lock))
    monkeypatch.setenv(drift.MODE_VARIABLE, "error")
    parsed = []
    real = drift._locked_versions_apart

    def counting(path):
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(drift, "_locked_versions_apart", counting)
    assert drift.check_from_environment() == []
    assert drift.check_from_environment() == []
    assert parsed == [str(lock)]
    assert (tmp_path / memo.STORE).is_file()
    # An edited lock is parsed again, and its drift found.
    lock.write_text(lock.read_text().replace("numpy==2.3.5", "numpy==2.4.0"))
    with pytest.raises(ReprotrainError, match=r"numpy: locked 2\.4\.0, found 2\.3\.5"):
        drift.check_from_environment()
    assert len(parsed) == 2


def test_working_out_the_locked_versions_imports_nothing_into_the_job(tmp_path):
    """A job that misses the memo imports what one that hits it imports: the packages a
    job used are recorded in the manifest and must not depend on the scheduling."""
    lock = tmp_path / "requirements.lock"
    lock.write_bytes(Path(PIP_LOCK).read_bytes())
    job = (
        "import json, sys\n"
        "from reprotrain.environment import drift\n"
        "locked = drift.remembered_locked_versions(sys.argv[1])\n"
        "print(json.dumps(['packaging' in sys.modules, len(locked)]))"
    )
    seen = []
    for _ in ("miss", "hit"):
        done = subprocess.run(
            [sys.executable, "-c", job, str(lock)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        seen.append(json.loads(done.stdout))
    assert (tmp_path / memo.STORE).is_file()
    expected = len(drift.locked_versions(str(lock)))
    assert seen == [[False, expected], [False, expected]]


# Under conda every job compares its environment with the platform's pin file, native
# packages included. No conda environment can be created here, so the environment is a
# prefix holding the records conda writes for each package it installs (conda-meta/*.json),
# made from the locked packages' own metadata in the conda lock.


def conda_record(entry: dict) -> dict:
    """The conda-meta record conda writes for one installed package (its repodata fields,
    where it came from, and what it installed)."""
    filename = entry["url"].rsplit("/", 1)[-1]
    name, version, build = lockfiles.split_conda_url(entry["url"])
    number = build.rsplit("_", 1)[-1]
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": int(number) if number.isdigit() else 0,
        "channel": entry["url"].rsplit("/", 2)[0],
        "subdir": entry["url"].rsplit("/", 2)[1],
        "fn": filename,
        "url": entry["url"],
        "md5": entry["hash"]["md5"],
        "sha256": entry["hash"]["sha256"],
        "depends": [f"{dep} {spec}".strip() for dep, spec in entry["dependencies"].items()],
        "files": [],
        "paths_data": {"paths": [], "paths_version": 1},
        "requested_spec": "",
    }


@pytest.fixture
def conda_prefix(tmp_path):
    """A conda environment's prefix as conda leaves it after installing the linux-64 pins."""

    meta = tmp_path / "env" / "conda-meta"
    meta.mkdir(parents=True)
    lock = lockfiles.load_conda_lock(REPO / "envs/conda-lock.yml")
    for entry in lock["package"]:
        if entry["platform"] == "linux-64" and entry["manager"] == "conda":
            record = conda_record(entry)
            stem = f"{record['name']}-{record['version']}-{record['build']}"
            (meta / f"{stem}.json").write_text(json.dumps(record), encoding="utf-8")
    (meta / "history").write_text("==> 2026-12-02 <==\n", encoding="utf-8")
    return tmp_path / "env"


def replace_record(prefix: Path, name: str, **changes) -> None:
    (path,) = (prefix / "conda-meta").glob(f"{name}-[0-9]*.json")
    record = json.loads(path.read_text()) | changes
    path.unlink()
    stem = f"{record['name']}-{record['version']}-{record['build']}"
    (prefix / "conda-meta" / f"{stem}.json").write_text(json.dumps(record))


def test_an_environment_installed_from_the_pin_file_has_no_drift(conda_prefix):
    assert len(list((conda_prefix / "conda-meta").glob("*.json"))) == 92
    assert drift.find_conda_drift(PIN, conda_prefix) == []


def test_a_native_package_at_another_build_is_drift(conda_prefix):
    (libopenblas,) = [
        line for line in Path(PIN).read_text().splitlines() if "/libopenblas-" in line
    ]
    _, version, build = lockfiles.split_conda_url(libopenblas.partition("#")[0])
    replace_record(conda_prefix, "libopenblas", build="openmp_h0000000_0", md5="0" * 32)

    found = drift.find_conda_drift(PIN, conda_prefix)

    assert found == [
        drift.Drift("libopenblas (conda)", f"{version}={build}", f"{version}=openmp_h0000000_0")
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # What a fallback solve from environment.yaml leaves: another python, an extra package.
        (
            lambda prefix: replace_record(prefix, "python", version="3.12.13"),
            "python (conda): locked 3.12.12=",
        ),
        (
            lambda prefix: (prefix / "conda-meta" / "mkl-2025.3.0-h0_0.json").write_text(
                json.dumps({"name": "mkl", "version": "2025.3.0", "build": "h0_0"})
            ),
            "mkl (conda): not in the lock, found 2025.3.0=h0_0",
        ),
        (
            lambda prefix: next((prefix / "conda-meta").glob("libgcc-[0-9]*.json")).unlink(),
            "libgcc (conda): locked 15.2.0=he0feb66_16, found not installed",
        ),
        (
            lambda prefix: replace_record(prefix, "openssl", md5="f" * 32),
            f"found md5 {'f' * 32}",
        ),
    ],
    ids=["other-python", "extra-package", "missing-native", "other-bytes"],
)
def test_the_job_check_fails_on_any_difference_from_the_pin_file(
    conda_prefix, monkeypatch, change, expected
):
    change(conda_prefix)
    monkeypatch.setattr(drift, "installed_versions", lambda: dict(drift.locked_versions(PIN)))
    with pytest.raises(ReprotrainError) as refused:
        drift.check(PIN, "error", prefix=conda_prefix)
    assert expected in refused.value.message
