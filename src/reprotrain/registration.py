"""`reprotrain add-data`: a table registered in one command.

The table schema is inferred from the **whole** table, by the rules preprocess applies
when it reads it (reprotrain.ml.data), so that what is registered is what preprocess
accepts: a column is integer only if every value is whole, float if every value is a
number, boolean if every value is a true/false word, categorical text otherwise (with its
categories in sorted order); a number written with a leading zero ("01") keeps the column
categorical, since those are codes; gaps make it `missing: impute`. What cannot be decided
(a date, a column of nothing, a target that could be either task) is refused, naming the
column and the choices. The entry is added to the registry with its comments and order
kept (ruamel.yaml), and the overlay that runs it is printed.

``infer_schema`` is pure; ``register`` reads and writes. Driver tooling: the rule
environments never import it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprotrain import fileio, yamlfile
from reprotrain.datasets import FALSE_WORDS, MISSING_TOKENS, TRUE_WORDS
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes

# As preprocess reads a table: these are gaps, these words booleans (its 1/0 are numbers
# here, inferred as integers first).
BOOLEAN_WORDS = frozenset(w for w in (*TRUE_WORDS, *FALSE_WORDS) if not w.isdigit())
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?")
LEADING_ZERO = re.compile(r"^[+-]?0\d")
# A classification target has at most this many classes when it is whole numbers; more
# is refused unless --task says which.
MAX_INTEGER_CLASSES = 10
TASKS = ("auto", "classification", "regression")
# More distinct texts than this (and than half the rows) is an identifier, not a category.
MAX_CATEGORIES = 50


def _leave_out(name: str) -> str:
    return f"leave it out of the model: --exclude {name}"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def infer_column(name: str, values: Sequence[str], where: str) -> dict[str, Any] | str:
    """A feature column's schema entry, inferred from every value it holds."""
    present = [value for value in values if value not in MISSING_TOKENS]
    gaps = len(present) < len(values)
    if not present:
        raise ReprotrainError(
            where,
            name,
            "holds no value at all",
            _leave_out(name),
        )
    if any(DATE.match(value) for value in present):
        raise ReprotrainError(
            where,
            name,
            f"holds dates ({next(v for v in present if DATE.match(v))!r}), and the schema "
            "has no date type yet",
            f"{_leave_out(name)}, or write it as a number (days since an epoch, a year) in a "
            "new version of the table",
        )
    numbers = [_number(value) for value in present]
    entry: dict[str, Any]
    if all(number is not None for number in numbers) and not any(
        LEADING_ZERO.match(value) for value in present
    ):
        whole = all(float(number).is_integer() for number in numbers if number is not None)
        entry = {"type": "integer" if whole else "float"}
    elif all(value.lower() in BOOLEAN_WORDS for value in present):
        entry = {"type": "boolean"}
    else:
        categories = sorted(set(present))
        if len(categories) > max(MAX_CATEGORIES, len(values) // 2):
            raise ReprotrainError(
                where,
                name,
                f"holds {len(categories)} distinct texts in {len(values)} rows "
                f"({categories[0]!r}, {categories[1]!r}, ...): an identifier or free text, not "
                "a category a model can learn from",
                _leave_out(name),
            )
        entry = {"type": "categorical", "categories": categories}
    if gaps:
        entry["missing"] = "impute"
    return entry["type"] if list(entry) == ["type"] else entry


def infer_target(name: str, values: Sequence[str], task: str, where: str) -> dict[str, Any]:
    """The schema's target part: `classes` (sorted, as numbers where every one is whole)
    or `task: regression`."""
    missing = sum(value in MISSING_TOKENS for value in values)
    if missing:
        raise ReprotrainError(
            where,
            name,
            f"the target is missing in {missing} row(s)",
            "fill those targets in, or remove the rows, in a new version of the table",
        )
    numbers = [_number(value) for value in values]
    numeric = all(number is not None for number in numbers) and not any(
        LEADING_ZERO.match(value) for value in values
    )
    # Classes are compared as written: whole numbers only as plain digits ("1", not "1.0").
    whole = numeric and all(re.fullmatch(r"[+-]?\d+", value) for value in values)
    distinct = sorted(set(values))
    if task == "auto":
        if not numeric or (whole and len(distinct) <= MAX_INTEGER_CLASSES):
            task = "classification"
        elif not whole:
            task = "regression"
        else:
            raise ReprotrainError(
                where,
                name,
                f"the target holds {len(distinct)} distinct whole numbers: classes or a quantity?",
                "say which: --task classification or --task regression",
            )
    if task == "regression":
        if not numeric:
            raise ReprotrainError(
                where,
                name,
                "a regression target must be numbers, and this one holds text "
                f"({next(v for v in values if _number(v) is None)!r})",
                "use --task classification, or name a numeric target",
            )
        return {"task": "regression", "target": name}
    if len(distinct) < 2:
        raise ReprotrainError(
            where, name, "the target has a single class", "name a target with two or more"
        )
    classes: list[Any] = sorted({int(float(v)) for v in distinct}) if whole else distinct
    return {"target": name, "classes": classes}


def infer_schema(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    target: str,
    task: str = "auto",
    where: str = "table",
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """The table schema of a whole table (its header and every row, as text); the
    ``exclude``d columns are registered as ignored, and nothing of them is inferred."""
    if target not in header:
        raise ReprotrainError(
            where, "--target", f"names no column ({target})", f"choose one of: {', '.join(header)}"
        )
    for name in exclude:
        if name not in header or name == target:
            raise ReprotrainError(
                where,
                "--exclude",
                f"{name!r} is the target" if name == target else f"names no column ({name})",
                f"exclude columns other than the target, of: {', '.join(header)}",
            )
    columns = {name: [row[index] for row in rows] for index, name in enumerate(header)}
    schema = infer_target(target, columns[target], task, where)
    schema["features"] = {
        name: infer_column(name, values, where)
        for name, values in columns.items()
        if name != target and name not in exclude
    }
    if not schema["features"]:
        raise ReprotrainError(where, None, "has no column besides the target", "add features")
    if exclude:
        schema["ignore"] = [name for name in header if name in exclude]
    return schema


def read_table(path: Path) -> tuple[bytes, list[str], list[list[str]]]:
    """The file's bytes, its header and every row (as text, as written)."""
    data = fileio.read_bytes(path, limit=fileio.LARGE_FILE_LIMIT, what="table")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReprotrainError(
            path, None, f"is not UTF-8 text ({error.reason})", "save it as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header, *rows = list(reader)
    except ValueError:
        raise ReprotrainError(path, None, "is empty", "give a CSV file with a header") from None
    except csv.Error as error:
        raise ReprotrainError(path, None, f"is not valid CSV: {error}", "fix the file") from None
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ReprotrainError(
                path,
                f"line {number}",
                f"has {len(row)} fields, and the header {len(header)}",
                "give every row one field per column (quote values that hold a comma)",
            )
    if not rows:
        raise ReprotrainError(path, None, "has a header but no rows", "add the rows")
    return data, header, rows


def register(
    repo: Path,
    registry: str,
    path: str,
    name: str,
    version: str,
    target: str,
    task: str = "auto",
    description: str | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Add the table at ``path`` (inside the repository) to the registry as ``name``
    ``version``, leaving the ``exclude``d columns out of the model; the entry written."""
    relative, inside = _inside(repo, path, name, version)
    data, header, rows = read_table(relative)
    schema = infer_schema(header, rows, target, task, inside, exclude)
    entry = _entry(name, version, description, inside, data, rows, schema)
    _add_to_registry(repo, registry, name, version, entry)
    return entry


def register_from_datapackage(
    repo: Path,
    registry: str,
    descriptor: str,
    resource: str | None,
    name: str,
    version: str,
    target: str | None,
    task: str = "auto",
    description: str | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Add the table a Frictionless Data Package describes: its declared types, the whole
    table for what the descriptor leaves out, its ``sha256:`` hash checked against the
    bytes, and the result read back as preprocess reads it before it is registered."""
    from reprotrain import datapackage
    from reprotrain.datasets import Dataset, table_schema
    from reprotrain.ml import data as tables

    item, table = datapackage.read(Path(descriptor), resource)
    relative, inside = _inside(repo, str(table), name, version)
    content, header, rows = read_table(relative)
    digest = sha256_bytes(content)
    declared = str(item.get("hash") or "")
    if declared.lower().startswith("sha256:") and declared[7:].lower() != digest:
        raise ReprotrainError(
            descriptor,
            f"{item['x-where']}/hash",
            f"is {declared}, and {inside} hashes to sha256:{digest}",
            "the table changed since it was described: describe it again, or restore it",
        )
    schema = datapackage.schema_of(item, header, rows, target, task, exclude or (), inside)
    entry = _entry(
        name, version, description or item.get("description"), inside, content, rows, schema
    )
    parsed = table_schema(json.loads(json.dumps(schema)), descriptor, "schema")
    dataset = Dataset(name, version, "file", parsed, inside, digest)
    tables.read_raw_table(inside, dataset, descriptor, content)  # preprocess accepts it
    _add_to_registry(repo, registry, name, version, entry)
    return entry


def _inside(repo: Path, path: str, name: str, version: str) -> tuple[Path, str]:
    """A table's path, refused outside the repository, and as the registry names it."""
    source = Path(path)
    relative = (source if source.is_absolute() else repo / source).resolve()
    if not relative.is_relative_to(repo.resolve()):
        raise ReprotrainError(
            path,
            None,
            "is outside the repository: a registered table travels with the project",
            f"copy it to data/{name}/{version}/ and register that copy",
        )
    return relative, relative.relative_to(repo.resolve()).as_posix()


def _entry(
    name: str,
    version: str,
    description: str | None,
    inside: str,
    data: bytes,
    rows: Sequence[Sequence[str]],
    schema: dict[str, Any],
) -> dict[str, Any]:
    return {
        "kind": "file",
        "description": description
        or f"{name} {version}: {len(rows)} rows, registered by reprotrain add-data",
        "source": inside,
        "sha256": sha256_bytes(data),
        "schema": schema,
    }


def _add_to_registry(
    repo: Path, registry: str, name: str, version: str, entry: dict[str, Any]
) -> None:
    from ruamel.yaml import YAML

    # The registry is checked as every reader checks it (strict YAML: no duplicate key,
    # no alias bomb) before ruamel's round-trip parser, which builds only plain maps and
    # lists, edits it in place with its comments and layout.
    registry_path = repo / registry
    yamlfile.check_file(registry_path, "dataset registry")
    editor = YAML(typ="rt")
    editor.preserve_quotes = True
    editor.width = 4096
    editor.indent(mapping=2, sequence=4, offset=2)  # the registry's own layout
    document = editor.load(fileio.read_text(registry_path, what="dataset registry"))
    versions = document["datasets"].setdefault(name, {})
    if version in versions:
        raise ReprotrainError(
            registry,
            f"datasets.{name}.{version}",
            "is registered already: a data version never changes once registered",
            "register the new bytes as a new version (--version)",
        )
    versions[version] = _in_registry_style(entry)
    out = io.StringIO()
    editor.dump(document, out)
    fileio.atomic_write_bytes(registry_path, out.getvalue().encode(), root=repo)


def _in_registry_style(entry: dict[str, Any]) -> Any:
    """The entry as the registry writes its own: a column's entry and the classes on one
    line (`{type: float, missing: impute}`, `[0, 1]`)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def flow(value: Any) -> Any:
        styled: CommentedMap | CommentedSeq
        if isinstance(value, dict):
            styled = CommentedMap(value)
        elif isinstance(value, list):
            styled = CommentedSeq(value)
        else:
            return value
        styled.fa.set_flow_style()
        return styled

    schema = dict(entry["schema"])
    if "classes" in schema:
        schema["classes"] = flow(schema["classes"])
    schema["features"] = {name: flow(column) for name, column in schema["features"].items()}
    if "ignore" in schema:
        schema["ignore"] = flow(schema["ignore"])
    return {**entry, "schema": schema}


def overlay(name: str, version: str, entry: dict[str, Any]) -> str:
    """The config overlay that runs the registered table, with its own results and record."""
    regression = entry["schema"].get("task") == "regression"
    model = (
        "model: [ridge]\nmodels:\n  ridge: {estimator: sklearn.linear_model.Ridge, "
        "params: {alpha: 1.0}, standardize: true}\n"
        if regression
        else "model: hist_gradient_boosting\n"
    )
    return (
        f"# config/{name}.yaml: run it with\n"
        f"#   .venv/bin/snakemake --cores 2 --configfile config/config.yaml config/{name}.yaml\n"
        f"results: results-{name}\n"
        f"dataset: {{name: {name}, version: {version}}}\n"
        + model
        + f"manifest: {{expected: config/{name}-manifest.json}}\n"
    )
