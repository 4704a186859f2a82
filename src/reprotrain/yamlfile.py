"""YAML that users write (configs, overlays, the dataset registry), read strictly.

Safe loading constructs no objects, but it still lets two things through. An alias can
stand for a whole tree, so nine nested levels of nine aliases make 387 million strings once
anything walks the config (its digest, the schema check). And a second key silently
replaces the first: a second ``v1.0:`` under a dataset replaces the reviewed entry, and
the run trains on another file. Both are refused here before anything else reads the
document, naming the key and the lines. Aliases themselves are fine (a registry entry may
share another's schema) up to MAX_VALUES values once expanded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reprotrain.errors import ReprotrainError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Values a document may hold with its aliases expanded: the shipped config has about 150.
MAX_VALUES = 100_000


def load(path: str | Path, what: str) -> Any:
    """Parse a YAML file safely and strictly, with one clear error for each way it is bad."""
    text = _read(Path(path), what)
    check_text(text, path, what)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


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
            _walk(document, file)


def _walk(root: yaml.Node, file: str | Path) -> None:
    """Every value once per place it appears (aliases expanded), up to MAX_VALUES; a stack,
    not recursion, so that deep nesting is no RecursionError either."""
    pending: list[tuple[yaml.Node, list[str]]] = [(root, [])]
    count = 0
    while pending:
        node, path = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise ReprotrainError(
                file,
                path[0] if path else "(top level)",
                f"expands to more than {MAX_VALUES} values through YAML aliases",
                "write the values out, or share fewer of them through anchors (&) and aliases (*)",
            )
        children: list[tuple[yaml.Node, list[str]]] = []
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
                children += [(key, [*path, str(name)]), (value, [*path, str(name)])]
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, [*path, str(index)]) for index, item in enumerate(node.value)]
        pending += reversed(children)  # in document order, as the message names it
