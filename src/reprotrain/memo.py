"""Start-up checks and digests, remembered under the digest of everything they read.

Snakemake parses the Snakefile on every invocation, so every run, a no-op included,
re-validated the config, re-parsed the 150 kB conda lock and re-walked the rule code
(benchmarks/README.md). Their results depend only on bytes: the files they read, the
arguments they are given and the code that checks. A result is remembered under a digest
of exactly those, so unchanged inputs cost a few file hashes, and any changed byte runs
the check again. A check that fails raises, and nothing is remembered for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import canonical_json, write_json
from reprotrain.hashing import digest_value, sha256_file

log = logging.getLogger(__name__)

# Where a workflow keeps them, relative to its working directory (jobs run there too).
STORE = ".snakemake/reprotrain-memo.json"
# Results kept in the file; the oldest are dropped first. A few runs' worth of checks.
MAX_ENTRIES = 256


class Memo:
    """Results of deterministic calls, kept in a JSON file (under `.snakemake/`)."""

    def __init__(self, path: str | os.PathLike[str], salt: Any) -> None:
        """``salt`` is what every result also depends on: the checking code, the versions."""
        self.path = Path(path)
        self.salt = salt
        self.entries = self._load()

    def _load(self) -> dict[str, Any]:
        # A missing, unreadable or foreign file only costs the checks their full time.
        try:
            stored = fileio.read_json(self.path, what="memo")
        except ReprotrainError:
            return {}
        entries = stored.get("entries") if isinstance(stored, dict) else None
        if not isinstance(entries, list):
            return {}
        return {
            entry[0]: entry[1]
            for entry in entries
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
        }

    def salted(self, **more: Any) -> Memo:
        """The same store with more in the salt (say, a digest computed through this one)."""
        other = Memo.__new__(Memo)
        other.path, other.entries = self.path, self.entries
        other.salt = {**self.salt, **more}
        return other

    def __call__(
        self,
        function: Callable[..., Any],
        *arguments: Any,
        files: Iterable[str | os.PathLike[str]] = (),
        also: Callable[[], Any] | None = None,
    ) -> Any:
        """``function(*arguments)``, or its remembered result when the function, its
        JSON-serialisable arguments, the bytes of ``files`` and the salt are all unchanged.
        ``also``: a check of the same inputs to run with it (a second opinion that cannot
        be named as a function), remembered together: it runs when ``function`` does."""

        def run() -> Any:
            result = function(*arguments)
            if also is not None:
                also()
            return result

        files = list(files)
        try:
            digests = {os.fspath(file): _file_digest(file) for file in files}
            key = digest_value(
                {
                    "function": f"{function.__module__}.{function.__qualname__}",
                    "arguments": list(arguments),
                    "files": digests,
                    "salt": self.salt,
                }
            )
        except (TypeError, ValueError, ReprotrainError):
            # Arguments JSON cannot hold (a YAML date, say), or a file that cannot be read:
            # nothing to remember them by, and the check itself says what is wrong.
            return run()
        if key in self.entries:
            return self.entries[key]
        result = run()
        # The check read the files itself: a verdict is remembered for the bytes hashed
        # into its key only if they are still the bytes there once it is done (a file
        # swapped while it was checked would otherwise lend its verdict to other bytes).
        if {os.fspath(file): _file_digest(file) for file in files} != digests:
            raise ReprotrainError(
                ", ".join(sorted(digests)),
                None,
                "changed while it was being checked",
                "leave the configuration, locks and user code alone while a run starts, and rerun",
            )
        try:
            canonical_json(result)
        except (TypeError, ValueError):
            return result
        self.entries[key] = result
        self._save()
        return result

    def _save(self) -> None:
        while len(self.entries) > MAX_ENTRIES:
            del self.entries[next(iter(self.entries))]
        try:
            # Atomic: two processes writing at once (SLURM jobs) lose an entry at worst.
            # A list, oldest first, since JSON objects are written with sorted keys.
            write_json(self.path, {"entries": [list(item) for item in self.entries.items()]})
        except (OSError, ReprotrainError) as error:
            log.warning("could not remember start-up checks in %s: %s", self.path, error)


def _file_digest(path: str | os.PathLike[str]) -> str | None:
    """A file's digest, None when it does not exist; a file that cannot be read (a
    directory, a FIFO) raises, and the check runs unremembered to say so itself."""
    if not os.path.lexists(path):
        return None
    return sha256_file(path)
