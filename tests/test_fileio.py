"""The confined I/O layer (reprotrain.fileio) on generated trees and paths: symbolic link
chains and loops, ``..``, absolute paths, FIFOs and devices. Whatever the tree and the path,
a read or a write succeeds inside its root or is one ReprotrainError; nothing outside the
root is read, written or deleted, and nothing blocks."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

SECRET = b"outside-secret"
DIRECTORY_PARTS = ["a", "b", "..", "."]
LAST_PARTS = ["data.json", "a", "b", "fifo"]


def _snapshot(directory: Path) -> dict[str, tuple[int, bytes | None]]:
    listing: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        listing[str(path.relative_to(directory))] = (info.st_mode, content)
    return listing


relative_path = st.builds(
    lambda directories, last: "/".join([*directories, last]),
    st.lists(st.sampled_from(DIRECTORY_PARTS), max_size=3),
    st.sampled_from(LAST_PARTS),
)
# Link targets: relative ones (which may climb out through ..), absolute ones into and out
# of the root, and ones that make chains and loops with the other entries.
link_target = st.one_of(
    st.sampled_from(["@outside", "@outside/data.json", "@root", "@root/a", "@root/../outside"]),
    st.sampled_from(["..", "../outside", "../outside/a", "a", "b/a", "../root/a"]),
    relative_path,
)
# One entry of a generated tree: (path inside the root, what it is, a link target).
entry = st.tuples(
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2).flatmap(
        lambda parts: st.sampled_from([parts, [*parts, "data.json"]])
    ),
    st.sampled_from(["link", "link", "file", "dir", "fifo"]),
    link_target,
)
path_strategy = st.one_of(
    relative_path,
    st.sampled_from(["@outside/data.json", "@root/a/data.json", "@root/../outside/data.json"]),
)


def _build(sandbox: Path, entries: list[tuple[list[str], str, str]]) -> tuple[Path, Path]:
    shutil.rmtree(sandbox, ignore_errors=True)
    root, outside = sandbox / "root", sandbox / "outside"
    root.mkdir(parents=True)
    for directory in (outside, outside / "outside"):
        for name in ("a", "b"):
            (directory / name).mkdir(parents=True)
            (directory / name / "data.json").write_bytes(SECRET)
        (directory / "data.json").write_bytes(SECRET)
    for parts, kind, target in entries:
        path = root.joinpath(*parts)
        if path.parent.is_symlink() or not _mkdirs(path.parent) or os.path.lexists(path):
            continue
        if kind == "file":
            path.write_bytes(b'{"inside": true}')
        elif kind == "dir":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to(_expand(target, root, outside))
    return root, outside


def _mkdirs(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return False
    except OSError as error:
        if error.errno == errno.ELOOP:
            return False
        raise
    return directory.is_dir() and not directory.is_symlink()


def _expand(path: str, root: Path, outside: Path) -> str:
    return path.replace("@outside", str(outside)).replace("@root", str(root))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("confined")


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(entry, max_size=10),
    path=path_strategy,
    operation=st.sampled_from(["read", "write", "remove"]),
)
def test_a_read_write_or_delete_stays_inside_its_root_and_never_blocks(
    sandbox: Path, entries: list[tuple[list[str], str, str]], path: str, operation: str
) -> None:
    root, outside = _build(sandbox, entries)
    before = _snapshot(outside)
    full = root / _expand(path, root, outside)  # an absolute target replaces the root
    try:
        if operation == "read":
            data = fileio.read_bytes(full, root=root)
            assert data != SECRET
            assert Path(os.path.realpath(full)).is_relative_to(root)
        elif operation == "write":
            fileio.atomic_write_bytes(full, b"written", root=root)
            # The bytes are readable back through the same confined path.
            assert fileio.read_bytes(full, root=root) == b"written"
        else:
            fileio.remove(full, root=root)
    except ReprotrainError as error:
        assert error.problem and error.fix
    assert _snapshot(outside) == before


def test_a_fifo_or_device_is_refused_by_kind_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    for path, kind in ((tmp_path / "pipe", "FIFO"), (Path("/dev/zero"), "character device")):
        with pytest.raises(ReprotrainError, match=kind):
            fileio.read_bytes(path)


def test_a_small_format_is_refused_past_its_bound_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "manifest.json"
    with big.open("wb") as handle:
        handle.truncate(fileio.SMALL_FILE_LIMIT + 1)  # sparse: nothing is written
    with pytest.raises(ReprotrainError, match="too large for a manifest"):
        fileio.read_bytes(big, what="manifest")


def test_strict_json_refuses_a_key_given_twice_and_nan(tmp_path: Path) -> None:
    for text, problem in (('{"a": 1, "a": 2}', "given twice"), ('{"a": NaN}', "NaN")):
        (tmp_path / "r.json").write_text(text)
        with pytest.raises(ReprotrainError, match=problem):
            fileio.read_json(tmp_path / "r.json")


def test_an_os_failure_is_one_message_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    error = fileio.os_error(tmp_path / "x", OSError(errno.ENOSPC, "No space left on device"))
    assert "No space left on device (the disk is full)" in error.message
    assert "free space" in error.fix


def test_a_write_cut_short_is_found_and_an_output_folder_still_ours(tmp_path):
    """A kill -9 between the temporary file and its rename leaves the temporary file:
    the next run finds it (and removes it), and the folder is still a results folder."""
    (tmp_path / "runs").mkdir()
    left = tmp_path / "runs/.metrics.json.0123456789ab.tmp"
    left.write_bytes(b"{")
    (tmp_path / ".manifest.json.abcdef012345.tmp").write_bytes(b"")
    assert fileio.leftover_writes(tmp_path) == sorted(
        [str(tmp_path / ".manifest.json.abcdef012345.tmp"), str(left)]
    )
    fileio.check_output_directory(
        tmp_path, "results directory", file="f", field=None, may_hold=frozenset({"runs"})
    )
