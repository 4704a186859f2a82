"""The one confined filesystem layer: every read and write of reprotrain goes through it.

A path is resolved beneath a root (the working directory, a results directory, a store)
component by component: a symbolic link is followed only while it stays inside that root,
``..`` never climbs above it, and the file itself is opened with ``O_NOFOLLOW`` relative to
the descriptor of its verified parent, so a link swapped in between the check and the open
is refused, not followed. Only regular files are read (a FIFO would block, a device never
ends), small formats under a size bound, data as a stream. Writes go to a temporary file
beside the target and are renamed over it, so a reader never sees half a file and a link
planted at the target is replaced, not written through. Every ``OSError`` becomes one
``ReprotrainError`` naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from reprotrain.errors import ReprotrainError

# A small format (config, registry, lock, record, manifest, verdict, card, signature)
# larger than this is not one: refused before it is read. A 5,000-dataset registry or a
# sweep's manifest of 10,000 runs stays well under it.
SMALL_FILE_LIMIT = 64 * 1024 * 1024
# A file read whole that is not small (a pickled model, read once to be hashed and then
# unpickled): bounded all the same, so a planted endless file is refused, not read.
LARGE_FILE_LIMIT = 16 * 1024**3
# Symbolic links followed while resolving one path (Linux's own limit).
_MAX_LINKS = 40
_KIND_OF_MODE = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def os_error(path: str | os.PathLike[str], error: OSError, doing: str = "read") -> ReprotrainError:
    """One message for an OS failure on ``path``: what failed and what fixes it."""
    code = error.errno
    fixes = {
        errno.ENOSPC: ("the disk is full", "free space on that filesystem and rerun"),
        errno.EDQUOT: ("the disk quota is exhausted", "free space or raise the quota, and rerun"),
        errno.EROFS: (
            "the filesystem is read-only",
            "mount it read-write, or point the run elsewhere",
        ),
        errno.EACCES: ("permission denied", "give your user access to it (chmod/chown)"),
        errno.EPERM: ("operation not permitted", "give your user access to it (chmod/chown)"),
        errno.ENOENT: ("does not exist", "create it, or correct the path"),
        errno.ENOTDIR: ("a part of its path is not a directory", "correct the path"),
        errno.EISDIR: ("is a directory", "name a file, or remove the directory"),
        errno.ELOOP: ("is a loop of symbolic links", "remove the symbolic links of the loop"),
        errno.ENAMETOOLONG: ("its name is too long", "use a shorter path"),
        errno.EIO: ("an I/O error (a failing disk?)", "check the disk and rerun"),
    }
    problem, fix = fixes.get(
        code or 0, (error.strerror or str(error), "check the file and its filesystem, and rerun")
    )
    # The system's words first (what a search finds), then what they mean here.
    said = error.strerror or problem
    if said.lower() != problem.lower():
        said = f"{said} ({problem})"
    return ReprotrainError(path, None, f"could not be {doing}: {said}", fix)


def _escape(display: str, root: Path, link: str) -> ReprotrainError:
    return ReprotrainError(
        display,
        None,
        f"leads outside {root} (through the symbolic link {link}); reprotrain never reads or "
        "writes outside the directory a path belongs to",
        f"remove {link} (or replace it by the file or directory itself)",
    )


def _parts(relative: str) -> list[str]:
    return [part for part in relative.split("/") if part not in ("", ".")]


def _relative_to_root(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None
) -> tuple[Path, str]:
    """(root, path relative to it). Without ``root``, the working directory is the root of
    a path inside it; a path outside it was named by the user, and is confined beneath its
    own directory (so its last part is still never a link out of it). With ``root``, a
    path outside it is refused."""
    raw = os.fspath(path)
    if "\0" in raw:
        raise ReprotrainError(raw.replace("\0", "\\0"), None, "holds a NUL byte", "correct it")
    absolute = Path(os.path.abspath(raw))
    given = Path(root if root is not None else os.getcwd())
    for base in (Path(os.path.abspath(given)), given.resolve()):
        if absolute.is_relative_to(base):
            return given.resolve(), absolute.relative_to(base).as_posix()
    if root is not None:
        raise ReprotrainError(raw, None, f"is outside {root}", f"name a path inside {root}")
    # Its directories that do not exist yet are made beneath the nearest one that does.
    base = absolute.parent
    while not base.is_dir() and base != base.parent:
        base = base.parent
    return base.resolve(), absolute.relative_to(base).as_posix()


def user_path(path: str) -> str:
    """A path the user named (a command-line argument) with the links of its directories
    followed once: the user chose them. Only what is found through it (the files a
    manifest lists, a card's paths) is confined. Unchanged when it holds no link, so
    messages show it as typed."""
    directory, name = os.path.split(path)
    if not directory or os.path.realpath(directory) == os.path.abspath(directory):
        return path
    return os.path.join(os.path.realpath(directory), name)


def resolve_beneath(root: Path, relative: str, display: str) -> list[str]:
    """The components of ``relative`` beneath ``root`` once every symbolic link in it is
    followed, each followed only while it stays inside ``root``. The last components may
    not exist yet (a file about to be written)."""
    pending = _parts(relative)
    done: list[str] = []
    links = 0
    through: str | None = None  # the last link followed, which a message names
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not done:
                if through is not None:
                    raise _escape(display, root, through)
                raise ReprotrainError(
                    display, None, f"climbs above {root} (through ..)", "name a path inside it"
                )
            done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            info = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        except OSError as error:
            raise os_error(display, error) from None
        if not stat.S_ISLNK(info.st_mode):
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise os_error(display, OSError(errno.ELOOP, "loop"))
        target = os.readlink(candidate)
        through = os.path.join(*done, part)
        if os.path.isabs(target):
            target_path = Path(os.path.normpath(target))
            if not target_path.is_relative_to(root):
                raise _escape(display, root, through)
            done = []
            pending = _parts(target_path.relative_to(root).as_posix()) + pending
        else:
            pending = _parts(target) + pending
    return done


def _open_directory(root: Path, parts: list[str], display: str, create: bool) -> int:
    """A descriptor of the directory ``parts`` beneath ``root``, opened one component at a
    time without following links (resolve_beneath has followed the allowed ones);
    with ``create``, missing directories are made."""
    descriptor = os.open(root, _DIRECTORY_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIRECTORY_FLAGS | _NOFOLLOW, dir_fd=descriptor)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=descriptor)
                child = os.open(part, _DIRECTORY_FLAGS | _NOFOLLOW, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
    except OSError as error:
        os.close(descriptor)
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ReprotrainError(
                display,
                None,
                "a directory on its path is not a directory (or was replaced by a symbolic "
                "link while it was read)",
                "remove what stands in the way and rerun",
            ) from None
        raise os_error(display, error, "written" if create else "read") from None
    return descriptor


def _not_regular(display: str, mode: int, fix: str | None = None) -> ReprotrainError:
    kind = next((name for test, name in _KIND_OF_MODE if test(mode)), "not a regular file")
    return ReprotrainError(
        display,
        None,
        f"is {kind}, not a regular file (reprotrain reads regular files only)",
        f"remove it; {fix}" if fix else "replace it by the file itself",
    )


def open_file(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    follow: bool = False,
    what: str = "file",
    fix: str | None = None,
) -> io.BufferedReader:
    """A regular file opened for reading, confined beneath ``root`` (default: the
    working directory). ``follow``: raw data, whose bytes the registry pins, may be reached
    through symbolic links to anywhere (a large disk elsewhere), and must still be a
    regular file. ``what`` and ``fix`` name it in the message when it does not exist."""
    display = os.fspath(path)
    try:
        if follow:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _NONBLOCK)
        else:
            descriptor = _open_confined(path, root, display)
    except FileNotFoundError:
        raise ReprotrainError(
            display, None, f"the {what} does not exist", fix or "create it, or correct the path"
        ) from None
    except OSError as error:
        raise os_error(display, error) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise _not_regular(display, mode, fix)
    os.set_blocking(descriptor, True)
    return io.BufferedReader(io.FileIO(descriptor, "rb"))


def _open_confined(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None, display: str
) -> int:
    base, relative = _relative_to_root(path, root)
    parts = resolve_beneath(base, relative, display)
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "is a directory", display)
    directory = _open_directory(base, parts[:-1], display, create=False)
    try:
        flags = os.O_RDONLY | os.O_CLOEXEC | _NONBLOCK | _NOFOLLOW
        return os.open(parts[-1], flags, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ELOOP:  # a link swapped in after resolve_beneath looked
            raise _escape(display, base, display) from None
        raise
    finally:
        os.close(directory)


def read_bytes(
    path: str | os.PathLike[str],
    *,
    limit: int = SMALL_FILE_LIMIT,
    root: str | os.PathLike[str] | None = None,
    what: str = "file",
    fix: str | None = None,
) -> bytes:
    """A small file's bytes, refused beyond ``limit`` before they are read."""
    with open_file(path, root=root, what=what, fix=fix) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise ReprotrainError(
                path,
                None,
                f"is {size:,} bytes: too large for a {what} (at most {limit:,})",
                fix or f"check that it is the {what} you mean",
            )
        try:
            # Its size and one byte more (read allocates what it is asked for): a file
            # that grows while read is caught, not read on.
            data = handle.read(size + 1) if size else _read_within(handle, limit)
        except OSError as error:
            raise os_error(path, error) from None
    if len(data) > max(size, limit if not size else 0):
        raise ReprotrainError(path, None, "grew while it was read", "rerun")
    return data


def _read_within(handle: io.BufferedReader, limit: int) -> bytes:
    """A file whose size the kernel does not know (/proc) read in chunks, up to one byte
    past ``limit``."""
    chunks, total = [], 0
    while total <= limit and (chunk := handle.read(min(1 << 16, limit + 1 - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_text(
    path: str | os.PathLike[str],
    *,
    limit: int = SMALL_FILE_LIMIT,
    root: str | os.PathLike[str] | None = None,
    what: str = "file",
    fix: str | None = None,
) -> str:
    data = read_bytes(path, limit=limit, root=root, what=what, fix=fix)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReprotrainError(
            path, None, f"the {what} is not UTF-8 text (byte {error.start})", "save it as UTF-8"
        ) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} is given twice")
        document[key] = value
    return document


def parse_json(text: str | bytes, path: str | os.PathLike[str], what: str, fix: str) -> Any:
    """Strict JSON: no NaN or Infinity, no key given twice, no nesting deep enough to
    overflow the parser. One message for each way it is bad."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        problem = "is not valid JSON: nested too deeply"
    except (ValueError, UnicodeDecodeError) as error:
        problem = f"is not valid JSON: {error}"
    raise ReprotrainError(path, None, f"the {what} {problem}", fix)


def read_json(
    path: str | os.PathLike[str],
    *,
    what: str = "record",
    fix: str = "restore it, or delete it and rerun to make it again",
    limit: int = SMALL_FILE_LIMIT,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """A small JSON file, read once within ``limit`` and parsed strictly."""
    data = read_bytes(path, limit=limit, root=root, what=what, fix=fix)
    return parse_json(data, path, what, fix)


# The temporary name atomic_write_bytes writes to before its rename.
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


@contextlib.contextmanager
def _created(directory: int, name: str) -> Iterator[tuple[IO[bytes], str]]:
    temporary = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
    umask = os.umask(0)
    os.umask(umask)
    descriptor = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | _NOFOLLOW,
        0o666 & ~umask,
        dir_fd=directory,
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle, temporary
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview,
    *,
    root: str | os.PathLike[str] | None = None,
) -> None:
    """Write ``data`` to a temporary file beside ``path`` (confined beneath ``root``,
    default the working directory), fsync it, then rename it over ``path``."""
    display = os.fspath(path)
    base, relative = _relative_to_root(path, root)
    parts = resolve_beneath(base, relative, display)
    if not parts:
        raise ReprotrainError(display, None, "is a directory", "name a file")
    directory = _open_directory(base, parts[:-1], display, create=True)
    try:
        with _created(directory, parts[-1]) as (handle, temporary):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.rename(temporary, parts[-1], src_dir_fd=directory, dst_dir_fd=directory)
        except OSError:
            os.unlink(temporary, dir_fd=directory)
            raise
    except OSError as error:
        raise os_error(display, error, "written") from None
    finally:
        os.close(directory)


# Written into every folder a reprotrain command makes and may later replace (a crate, a
# hunt's report, an export): the kind of output it holds.
OUTPUT_MARKER = ".reprotrain-output"


def _tracked_by_git(path: Path) -> bool:
    """Whether git tracks a file at or under ``path`` (False where git or a repository
    is not there: an exported tree has nothing tracked)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout)


def check_output_directory(
    path: str | os.PathLike[str],
    kind: str,
    *,
    file: str,
    field: str | None,
    may_hold: frozenset[str] = frozenset(),
    reserved: tuple[str, ...] = (),
) -> None:
    """Refuse a folder an output of ``kind`` would be written into (and whose old content
    it may replace) unless it is new, empty, marked as this kind of reprotrain output, or
    holds only the names ``may_hold`` (a results directory of any reprotrain). Never the
    repository or a folder holding it, ``.git``, a folder git tracks, one of ``reserved``
    (user code) or a symbolic link. ``file`` and ``field``: where the path was given."""
    given = Path(path)
    fix = f"name a new folder for the {kind} (it is created)"

    def refuse(problem: str) -> ReprotrainError:
        return ReprotrainError(file, field, f"{os.fspath(path)} {problem}", fix)

    if given.is_symlink():
        raise refuse("is a symbolic link, not a folder of its own")
    resolved = given.resolve()
    repository = Path.cwd().resolve()
    if resolved == repository or repository.is_relative_to(resolved):
        raise refuse("is the repository itself, or holds it")
    if resolved.is_relative_to(repository):
        inside = resolved.relative_to(repository)
        if inside.parts[0] == ".git":
            raise refuse("is git's own folder")
        for other in reserved:
            mine = (repository / other).resolve()
            if resolved == mine or resolved.is_relative_to(mine) or mine.is_relative_to(resolved):
                raise refuse(f"is (or holds, or is inside) {other}/, which holds your code")
        if given.exists() and _tracked_by_git(resolved):
            raise refuse("holds files git tracks: reprotrain would replace them")
    if not given.exists():
        return
    if not given.is_dir():
        raise refuse("is a file, not a folder")
    # A write in progress (another job's), or one a kill -9 cut short, is ours too.
    entries = {entry.name for entry in os.scandir(given) if not _TEMPORARY.fullmatch(entry.name)}
    if not entries or entries <= may_hold | {OUTPUT_MARKER}:
        return
    marker = given / OUTPUT_MARKER
    try:
        if marker.is_file() and not marker.is_symlink() and read_text(marker).strip() == kind:
            return
    except ReprotrainError:
        pass
    raise refuse(
        f"holds files a reprotrain {kind} does not (no {OUTPUT_MARKER} marker of a {kind}): "
        "they may be yours"
    )


def check_tree_confined(directory: str | os.PathLike[str]) -> None:
    """Refuse a symbolic link anywhere under ``directory`` (a results or logs folder) that
    leads outside it or into a loop: Snakemake and the jobs would write through it (a
    planted ``results/runs -> /etc`` redirected outputs). Links that stay inside are
    left alone."""
    base = Path(directory)
    if not base.is_dir() or base.is_symlink():
        return
    root = base.resolve()
    for folder, subfolders, files in os.walk(base):
        for name in [*subfolders, *files]:
            entry = Path(folder, name)
            if entry.is_symlink():
                relative = entry.relative_to(base).as_posix()
                try:
                    resolve_beneath(root, relative, str(entry))
                except ReprotrainError as error:
                    raise ReprotrainError(
                        entry,
                        None,
                        f"is a symbolic link that {error.problem.split(' (through')[0]}"
                        if "leads outside" in error.problem
                        else f"is a symbolic link: {error.problem}",
                        f"remove it ({entry}); reprotrain makes what belongs there",
                    ) from None


def leftover_writes(directory: str | os.PathLike[str]) -> list[str]:
    """The temporary files of writes that a kill -9 cut short under ``directory``."""
    found = []
    for folder, _, files in os.walk(directory):
        found += [os.path.join(folder, name) for name in files if _TEMPORARY.fullmatch(name)]
    return sorted(found)


def mark_output_directory(path: str | os.PathLike[str], kind: str) -> None:
    atomic_write_bytes(Path(path) / OUTPUT_MARKER, f"{kind}\n".encode())


def remove(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None) -> None:
    """Delete one file beneath ``root`` (default: the working directory): the link itself
    when it is one, never what it points to, and never a path that leads outside."""
    display = os.fspath(path)
    base, relative = _relative_to_root(path, root)
    parts = resolve_beneath(base, os.path.dirname(relative), display)
    name = os.path.basename(relative)
    if not name or name in (".", ".."):
        raise ReprotrainError(display, None, "is not a file", "name a file")
    directory = _open_directory(base, parts, display, create=False)
    try:
        os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise os_error(display, error, "deleted") from None
    finally:
        os.close(directory)


def check_writable(directory: str | Path) -> None:
    """Refuse, before any job, a directory the run writes to that cannot be written: a
    read-only filesystem, or permissions (access(2) says so for root too, on a read-only
    mount). Snakemake would otherwise fail on it with a traceback."""
    path = Path(directory)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise ReprotrainError(
            f"{path}/",
            None,
            "cannot be written (a read-only filesystem, or its permissions)",
            "make it writable (or mount it read-write) and rerun",
        )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, fixed separators and a final newline: same value, same bytes."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    atomic_write_bytes(path, canonical_json(value).encode("utf-8"))
