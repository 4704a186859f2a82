"""One error type for every bad input: it names the file, the field and the fix."""

from __future__ import annotations

import os


class ReprotrainError(Exception):
    """A user-facing failure caused by an input the user can fix."""

    def __init__(
        self, file: str | os.PathLike[str], field: str | None, problem: str, fix: str
    ) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = self.file if self.field is None else f"{self.file}: {self.field}"
        return f"{where}: {self.problem}\n  fix: {self.fix}"
