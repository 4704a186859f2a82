"""YAML that users write (configs, overlays, the dataset registry), read strictly.

Safe loading constructs no objects, but it still lets two things through. An alias can
stand for a whole tree, so nine nested levels of nine aliases make 387 million strings once
anything walks the config (its digest, the schema check). And a second key silently
replaces the first: a second ``v1.0:`` under a dataset replaces the reviewed entry, and
the run trains on another file. Both are refused here before anything else reads the
document, naming the key and the lines. Aliases themselves are fine (5,000 registry
entries may share one schema): a document may expand to MAX_VALUES values, or to
MAX_GROWTH times the values it writes, whichever is more. The expansion is counted, never
done: each node is visited once and its expanded size is the sum of its children's. The
same count guards the values of ``--config``, which Snakemake parses as YAML itself
(``check_expansion``). So are YAML 1.1's numbers nobody means: ``seed: 042`` is the
octal 34 and ``1:20`` is 80 (base 60).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Values a document may hold with its aliases expanded, at least: the shipped config has
# about 150; nine nested levels of nine aliases make 387 million.
MAX_VALUES = 1_000_000
# ... or this many times the values it writes (a shared schema multiplies by the entries).
MAX_GROWTH = 64
# Plain scalars YAML 1.1 reads as numbers in a base nobody writes by intent: a leading 0
# (octal) or colons (sexagesimal).
_SURPRISING_NUMBER = re.compile(r"[-+]?(0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)")
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def load(path: str | Path, what: str) -> Any:
    """Parse a YAML file safely and strictly, with one clear error for each way it is bad."""
    text = _read(Path(path), what)
    check_text(text, path, what)
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:  # composed, but not constructed: a tag, a list as a key
        raise ReprotrainError(
            path, None, f"the {what} is not valid YAML: {error}", "correct the YAML syntax"
        ) from None


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
    """Each node once (an alias is a second reference to a node: not walked again), in
    document order; a stack, not recursion, so that deep nesting is no RecursionError
    either. Then the expansion, counted."""
    pending: list[tuple[yaml.Node, list[str]]] = [(root, [])]
    seen: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
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
    _check_growth(root, file, _node_children)


def _node_children(node: Any) -> list[Any] | None:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return None


def _object_children(value: Any) -> list[Any] | None:
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def _check_growth(root: Any, file: str | Path, children_of: Any, field: str = "") -> None:
    """Refuse a tree whose shared branches (YAML aliases) expand it past MAX_VALUES and
    MAX_GROWTH times its own size. Counted in one pass over the distinct nodes (by
    identity), bottom up: nothing is expanded."""
    expanded: dict[int, int] = {}
    order: list[Any] = []
    pending = [root]
    while pending:  # every distinct node, parents before their children
        node = pending.pop()
        if id(node) in expanded:
            continue
        expanded[id(node)] = 1
        order.append(node)
        pending += children_of(node) or []
    for node in reversed(order):  # children before their parents
        expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children_of(node) or [])
    total, written = expanded[id(root)], len(order)
    if total > max(MAX_VALUES, MAX_GROWTH * written):
        # Named by the top-level key that expands most.
        pairs = (
            [(str(key.value), value) for key, value in root.value]
            if isinstance(root, yaml.MappingNode)
            else [(str(key), value) for key, value in root.items()]
            if isinstance(root, dict)
            else []
        )
        if pairs:
            top = max(pairs, key=lambda pair: expanded[id(pair[1])])[0]
            field = f"{field}.{top}" if field else top
        raise ReprotrainError(
            file,
            field or "(top level)",
            f"expands through YAML aliases to {total:,} values from the {written:,} it "
            f"writes (at most {MAX_VALUES:,}, or {MAX_GROWTH} times what it writes)",
            "write the values out, or share fewer of them through anchors (&) and aliases (*)",
        )


def check_expansion(value: Any, file: str, field: str = "") -> None:
    """The alias check of a parsed value (``--config``: Snakemake parses it as YAML, so a
    repeated alias is one shared object there too), before anything walks it."""
    _check_growth(value, file, _object_children, field)


def _is_surprising_number(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and not node.style  # plain: neither quoted nor a block
        and node.tag in _NUMBER_TAGS
        and _SURPRISING_NUMBER.fullmatch(node.value) is not None
    )


# How a message names values given by --config (on the command line, or by a profile's
# `config:`), which override every config file.
COMMAND_LINE = "--config"


def _given(values: Mapping[str, Any], parts: list[str]) -> bool:
    node: Any = values
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def locate(
    files: Sequence[str | Path], field: str, command_line: Mapping[str, Any] | None = None
) -> tuple[str, int, str] | None:
    """Where a merged config's ``field`` (dotted, list items by index) was given:
    ``--config`` (``command_line``, which overrides every file), or the last of ``files``
    that gives it (later files override earlier ones, as in Snakemake), its line and, for
    a scalar, its text as written. None when none gives it."""
    parts = field.split(".")
    if command_line and _given(command_line, parts):
        return COMMAND_LINE, 0, ""
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


def config_file_of(
    files: Sequence[str | Path], field: str, command_line: Mapping[str, Any] | None = None
) -> str:
    """The config file (the shipped one or an overlay) of ``files`` that gives ``field``
    (dotted, list items as ``[i]``; for several, the first) or, when none does (a missing
    key), its nearest parent: where a message about it should point. Looked up only for
    a message, so a good run never parses the files again."""
    first = field.split(",")[0].strip()
    parts = re.sub(r"\[(\d+)\]", r".\1", first).split(".")
    for end in range(len(parts), 0, -1):
        if found := locate(files, ".".join(parts[:end]), command_line):
            return found[0]
    return CONFIG_LABEL
