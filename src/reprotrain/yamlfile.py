"""YAML that users write (configs, overlays, the dataset registry), read strictly.

Safe loading constructs no objects, but it still lets two things through. An alias can
stand for a whole tree, so nine nested levels of nine aliases make 387 million strings once
anything walks the config (its digest, the schema check). And a second key silently
replaces the first: a second ``v1.0:`` under a dataset replaces the reviewed entry, and
the run trains on another file. Both are refused here before anything else reads the
document, naming the key and the lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reprotrain.errors import ReprotrainError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: str | Path, what: str) -> Any:
    """Parse a YAML file safely and strictly, with one clear error for each way it is bad."""
    text = _read(Path(path), what)
    check_text(text, path, what)
    return yaml.load(text, Loader=_LOADER)


def check_file(path: str | Path, what: str) -> None:
    """Refuse a file another reader parses (Snakemake reads the config files itself)."""
    check_text(_read(Path(path), what), path, what)


def _read(file: Path, what: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReprotrainError(
            file, None, f"the {what} does not exist", f"create {file} or point the config at it"
        ) from None
    except IsADirectoryError:
        raise ReprotrainError(
            file, None, f"the {what} is a directory", "point the config at a YAML file"
        ) from None
    except UnicodeDecodeError as error:
        raise ReprotrainError(
            file,
            None,
            f"the {what} is not UTF-8 text (byte {error.start})",
            "save it as UTF-8",
        ) from None


def check_text(text: str, file: str | Path, what: str) -> None:
    """Refuse aliases and duplicate keys in ``text`` (what ``file`` holds)."""
    try:
        # Composing keeps an alias as a second reference to one node: nothing expands.
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.YAMLError as error:
        raise ReprotrainError(
            file, None, f"the {what} is not valid YAML: {error}", "correct the YAML syntax"
        ) from None
    for document in documents:
        if document is not None:
            _walk(document, [], set(), file)


def _walk(node: yaml.Node, path: list[str], visited: set[int], file: str | Path) -> None:
    field = ".".join(path) or "(top level)"
    if id(node) in visited:
        raise ReprotrainError(
            file,
            field,
            f"is an alias of the value at line {node.start_mark.line + 1}; aliases are "
            "refused, since one can stand for a tree of any size",
            "write the value out in full",
        )
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            line = key.start_mark.line + 1
            identity = (key.tag, str(name))
            if identity in lines:
                raise ReprotrainError(
                    file,
                    ".".join([*path, str(name)]),
                    f"is given twice (lines {lines[identity]} and {line}); YAML would "
                    "silently keep the second",
                    "keep one of them",
                )
            lines[identity] = line
            _walk(key, [*path, str(name)], visited, file)
            _walk(value, [*path, str(name)], visited, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, [*path, str(index)], visited, file)
