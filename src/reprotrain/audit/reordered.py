"""Run a command in its working directory as another filesystem would list it.

The order of ``os.listdir`` is the filesystem's: hash order on ext4, creation order (or
its reverse) on tmpfs, something else again on NFS or overlayfs. Code that trains on
files in listing order trains other bytes on another machine. The hunt's ``fileordering``
variation runs the pipeline through this module, inside a private mount namespace
(``unshare --mount``, which it sets up): the working directory is covered by a fresh
tmpfs, the original tree is copied into it so that every directory with two or more
entries lists them in another order than before, the command runs there, and what it
made is copied back under the original directory when it ends. The namespace, and with
it the tmpfs, goes away with the last process in it, so nothing is left mounted however
the run ends.

Usage (as the hunt runs it): ``unshare --mount --propagation private python -m
reprotrain.audit.reordered COMMAND...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def _listing(directory: Path) -> list[str]:
    """A directory's entries in the order its filesystem lists them."""
    return [entry.name for entry in directory.iterdir()]


def _create(source: Path, target: Path) -> None:
    if source.is_symlink():
        target.symlink_to(source.readlink())
    elif source.is_dir():
        target.mkdir()
        shutil.copystat(source, target)
        copy_listed_otherwise(source, target)
    else:
        shutil.copy2(source, target)


def copy_listed_otherwise(source: Path, target: Path) -> None:
    """Copy the tree under ``source`` into the empty directory ``target`` so that each of
    its directories with two or more entries lists them in another order than
    ``source``'s (as far as the target filesystem follows creation order, as tmpfs does).
    """
    listed = _listing(source)
    for order in (listed[::-1], listed):
        for name in order:
            _create(source / name, target / name)
        if len(listed) < 2 or _listing(target) != listed:
            return
        # This filesystem lists in creation order: create them the other way round.
        for name in listed:
            path = target / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def main(command: list[str]) -> int:
    here = Path.cwd()
    original = Path(tempfile.mkdtemp(prefix=".reprotrain-original-", dir=here.parent))
    try:
        _mount("--bind", str(here), str(original))
        _mount("-t", "tmpfs", "-o", f"mode={here.stat().st_mode & 0o7777:o}", "tmpfs", str(here))
        os.chdir(here)  # into the tmpfs, which now covers the directory
        copy_listed_otherwise(original, here)
        status = subprocess.call(command)
        shutil.copytree(here, original, symlinks=True, dirs_exist_ok=True)
    finally:
        subprocess.run(["umount", "--lazy", str(original)], check=False)
        original.rmdir()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
