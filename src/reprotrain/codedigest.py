"""A digest of what code means, not of how it is spelled.

The code digest goes into every record: editing a comment, a docstring or the layout of
a line must not make every record stale, while any change to what runs must. Each file is
digested by what its kind of file means:

- Python: its syntax tree (``ast``) without docstrings, positions or formatting;
- Snakemake files, which are not Python: their tokens without comments, line breaks
  inside brackets, docstrings, and a trailing comma before a closing bracket, with each
  string literal by its value (so ``'a'`` and ``"a"`` are one);
- YAML (the schemas): the data it holds;
- anything else: its bytes.

Standard library and PyYAML only: the Snakefile calls it in the driver and in every job.
"""

from __future__ import annotations

import ast
import io
import json
import token
import tokenize
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.hashing import digest_value, sha256_bytes

# Changes whenever what a digest covers changes, so that no digest of another meaning
# matches one of this (it is part of every file's digest).
NORMALIZER = 1


def digest_code(root: str | Path, relative_paths: Iterable[str]) -> str:
    """Digest of several files' names and meanings, independent of where ``root`` lives."""
    base = Path(root)
    return digest_value(
        {relative: meaning_digest(base / relative) for relative in sorted(set(relative_paths))}
    )


def meaning_digest(path: Path) -> str:
    """The digest of one file's meaning (of its bytes, when they do not parse)."""
    data = fileio.read_bytes(path, what="code file")
    key = (path.name, sha256_bytes(data))
    # A process digests the same files for every rule, and copies of them: each once.
    if key not in _digests:
        _digests[key] = _digest_of_meaning(path.name, data, key[1])
    return _digests[key]


_digests: dict[tuple[str, str], str] = {}


def _digest_of_meaning(name: str, data: bytes, sha256: str) -> str:
    try:
        meaning = normalized(name, data.decode("utf-8"))
    except (SyntaxError, ValueError, tokenize.TokenError, UnicodeDecodeError):
        meaning = None  # not what its name says: its bytes stand for it
    if meaning is None:
        return sha256
    return digest_value({"normalizer": NORMALIZER, "meaning": meaning})


def normalized(name: str, text: str) -> str | None:
    """The meaning of a file's text by its kind, from its name (None: only its bytes say
    it)."""
    suffix = Path(name).suffix
    if suffix == ".py":
        return python_meaning(text)
    if suffix == ".smk" or name == "Snakefile":
        return snakemake_meaning(text)
    if suffix in (".yaml", ".yml"):
        return yaml_meaning(text)
    return None


def python_meaning(text: str) -> str:
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and _is_docstring(body[0]):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Delete):
            # `del a, b` and `del (a, b)`, which formatters write either way, delete alike.
            node.targets = [
                each
                for target in node.targets
                for each in (target.elts if isinstance(target, ast.Tuple) else [target])
            ]
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


_SKIPPED = {token.COMMENT, token.NL, token.ENCODING, token.ENDMARKER}
_CLOSING = {")", "]", "}"}
# The blocks whose first statement, a string, is their docstring.
_DOCUMENTED = {"(file)", "rule", "checkpoint", "def", "class", "async"}


def snakemake_meaning(text: str) -> str:
    """A Snakefile's tokens as they matter: Snakemake's own syntax (``rule x:`` and its
    indented directives) tokenizes as Python does."""
    significant = [
        (kind, value)
        for kind, value, *_ in tokenize.generate_tokens(io.StringIO(text).readline)
        if kind not in _SKIPPED
    ]
    kept: list[tuple[str, Any]] = []
    dropped_docstring = False
    line_start = 0  # index of the first token of the current logical line
    block_opener = "(file)"  # what opened the block the current line is in
    for index, (kind, value) in enumerate(significant):
        before = significant[index - 1][0] if index else token.INDENT
        after = significant[index + 1] if index + 1 < len(significant) else (token.NEWLINE, "")
        if kind == token.INDENT:
            block_opener = significant[line_start][1] if line_start < index else "(file)"
        if before in (token.NEWLINE, token.INDENT, token.DEDENT) or not index:
            line_start = index
        first_in_block = before == token.INDENT or not index
        if (
            kind == token.STRING
            and first_in_block
            and after[0] == token.NEWLINE
            and block_opener in _DOCUMENTED
        ):
            dropped_docstring = True
            continue  # a docstring: the first statement of a rule, function, class, file
        if dropped_docstring:
            dropped_docstring = False
            if kind == token.NEWLINE:
                continue  # the end of the docstring's line
        if (
            kind == token.OP
            and value == ","
            and (after[1] in _CLOSING or after[0] == token.NEWLINE)
        ):
            continue  # a trailing comma (snakefmt ends a directive's values with one)
        if kind == token.NEWLINE and (
            after[1] in _CANNOT_START or (after[0] == token.OP and after[1] in _BINARY)
        ):
            continue  # a directive's value snakefmt continued on the next line
        if kind == token.STRING:
            kept.append(("string", _literal(value)))
        else:
            kept.append((token.tok_name[kind], value))
    return json.dumps(_without_redundant_parentheses(kept))


# What cannot start a statement: a line that starts with one continues the one before.
_CANNOT_START = {"and", "or", "if", "else", "is", "in", "not in"}
_BINARY = {"*", "/", "//", "%", "**", "==", "!=", "<", ">", "<=", ">=", "|", "&", "^", "@", "."}
# Parentheses a formatter adds or removes after these: around a whole value, a whole
# condition, a whole iterable. After any but the last two, parentheses around a comma of
# their own make a tuple and stay.
_WHOLE_AFTER = {
    ("OP", "="),
    ("OP", "("),
    ("OP", "["),
    ("OP", ","),
    ("OP", ":"),
    ("NAME", "if"),
    ("NAME", "elif"),
    ("NAME", "while"),
    ("NAME", "in"),
    ("NAME", "assert"),
    ("NAME", "return"),
    ("NAME", "import"),
}
_ANY_COMMA_AFTER = {("NAME", "return"), ("NAME", "import")}


def _without_redundant_parentheses(tokens: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Drop parentheses that wrap a whole value (``x = (a or b)``, ``return (a, b)``,
    ``from m import (a, b)``, ``if (a and b):``): formatters add and remove them. Around a
    comma of their own they mostly stay, since ``f(x=(a, b))`` is not ``f(x=a, b)``."""
    match: dict[int, int] = {}
    depth: dict[int, int] = {}  # the bracket depth each opening bracket is at
    stack: list[int] = []
    for index, (kind, value) in enumerate(tokens):
        if kind == "OP" and value in "([{":
            depth[index] = len(stack)
            stack.append(index)
        elif kind == "OP" and value in ")]}" and stack:
            match[stack.pop()] = index
    dropped: set[int] = set()
    for opening, closing in match.items():
        if tokens[opening] != ("OP", "(") or opening == 0 or closing == opening + 1:
            continue
        before = tokens[opening - 1]
        after = tokens[closing + 1] if closing + 1 < len(tokens) else ("NEWLINE", "")
        whole = after[0] in ("NEWLINE", "DEDENT") or after in (
            ("OP", ","),
            ("OP", ")"),
            ("OP", ":"),
        )
        if before not in _WHOLE_AFTER or not whole:
            continue
        # An assignment's value (outside brackets) is the same tuple with or without them.
        assignment = before == ("OP", "=") and depth[opening] == 0
        if (
            before not in _ANY_COMMA_AFTER
            and not assignment
            and _has_own_comma(tokens, opening, closing)
        ):
            continue
        dropped |= {opening, closing}
    return [item for index, item in enumerate(tokens) if index not in dropped]


def _has_own_comma(tokens: list[tuple[str, Any]], opening: int, closing: int) -> bool:
    depth = 0
    for kind, value in tokens[opening + 1 : closing]:
        if kind == "OP" and value in "([{":
            depth += 1
        elif kind == "OP" and value in ")]}":
            depth -= 1
        elif depth == 0 and (kind, value) == ("OP", ","):
            return True
    return False


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def yaml_meaning(text: str) -> str | None:
    import yaml

    try:
        return json.dumps(yaml.safe_load(text), sort_keys=True, default=str)
    except yaml.YAMLError:
        return None
