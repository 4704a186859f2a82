"""YAML that users write (configs, overlays, the dataset registry), read strictly.

Safe loading constructs no objects, but it still lets two things through. An alias can
stand for a whole tree, so nine nested levels of nine aliases make 387 million strings once
anything walks the config (its digest, the schema check). And a second key silently
replaces the first: a second ``v1.0:`` under a dataset replaces the reviewed entry, and
the run trains on another file. Both are refused here before anything else reads the
document, naming the key and the lines. Aliases themselves are fine (a registry entry may
share another's schema) up to MAX_VALUES values once expanded. So are YAML 1.1's numbers
nobody means: ``seed: 042`` is the octal 34 and ``1:20`` is 80 (base 60).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Values a document may hold with its aliases expanded: the shipped config has about 150.
MAX_VALUES = 100_000
# Plain scalars YAML 1.1 reads as numbers in a base nobody writes by intent: a leading 0
# (octal) or colons (sexagesimal).
_SURPRISING_NUMBER = re.compile(r"[-+]?(0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)")
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def load(path: str | Path, what: str) -> Any:
    """Parse a YAML file safely and strictly, with one clear error for each way it is bad."""
    text = _read(Path(path), what)
    check_text(text, path, what)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def check_file(path: str | Path, what: str) -> None:
    """Refuse a file another reader parses (Snakemake reads the config files itself)."""
    check_text(_read(Path(path), what), path, what)


def _read(file: Path, what: str) -> str:
    return fileio.read_text(file, what=what, fix=f"create {file} or point the config at it")


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
        elif _is_surprising_number(node):
            read_as = yaml.safe_load(node.value)
            raise ReprotrainError(
                file,
                ".".join(path) or "(top level)",
                f"{node.value} (line {node.start_mark.line + 1}) is read by YAML as the "
                f"number {read_as} ({'octal' if ':' not in node.value else 'base 60'})",
                f"write the number you mean without a leading 0 or colon, or quote it "
                f'("{node.value}") if it is text',
            )
        pending += reversed(children)  # in document order, as the message names it


def _is_surprising_number(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and not node.style  # plain: neither quoted nor a block
        and node.tag in _NUMBER_TAGS
        and _SURPRISING_NUMBER.fullmatch(node.value) is not None
    )


def locate(files: Sequence[str | Path], field: str) -> tuple[str, int, str] | None:
    """Where a merged config's ``field`` (dotted, list items by index) was written: the
    last of ``files`` that gives it (later files override earlier ones, as in Snakemake),
    its line and, for a scalar, its text as written. None when no file gives it."""
    parts = field.split(".")
    for file in reversed(files):
        try:
            node = yaml.compose(fileio.read_text(file), Loader=_LOADER)
        except (ReprotrainError, yaml.YAMLError):
            continue
        for part in parts:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            elif isinstance(node, yaml.SequenceNode) and part.isdigit():
                node = node.value[int(part)] if int(part) < len(node.value) else None
            else:
                node = None
            if node is None:
                break
        if node is not None:
            text = node.value if isinstance(node, yaml.ScalarNode) else ""
            return str(file), node.start_mark.line + 1, text
    return None


# How every message about the run's configuration names it when no file can be named.
CONFIG_LABEL = "config/config.yaml"


def config_file_of(files: Sequence[str | Path], field: str) -> str:
    """The config file (the shipped one or an overlay) of ``files`` that gives ``field``
    (dotted, list items as ``[i]``; for several, the first) or, when none does (a missing
    key), its nearest parent: where a message about it should point. Looked up only for
    a message, so a good run never parses the files again."""
    first = field.split(",")[0].strip()
    parts = re.sub(r"\[(\d+)\]", r".\1", first).split(".")
    for end in range(len(parts), 0, -1):
        if found := locate(files, ".".join(parts[:end])):
            return found[0]
    return CONFIG_LABEL
