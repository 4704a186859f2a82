"""A registered table as a Frictionless Data Package, and back.

``descriptor`` writes a registry entry as a Data Package (v2) of one tabular resource: its
path, ``hash: "sha256:<hex>"``, size, and a Table Schema with each column's type, the
categories and classes as ``enum`` constraints, ``required`` where gaps are refused, and
the registry's missing-value tokens; the target and task ride along as ``x-reprotrain``.
``schema_of`` reads a resource back into a registry schema: the declared types decide
what a column is, and the whole table (not a sample) supplies what a descriptor may leave
out (what a string column without ``enum`` holds, the classes of a target). Every descriptor, read
or written, is checked against the standard's own JSON Schema (``PROFILE``, bundled: the
Data Package 2.0 profile, public domain), and every refusal names the file and the field.

Driver tooling: the rule environments never import it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprotrain import fileio, source_tree
from reprotrain.datasets import FALSE_WORDS, MISSING_TOKENS, TRUE_WORDS
from reprotrain.errors import ReprotrainError
from reprotrain.registration import infer_column, infer_target

PROFILE_URL = "https://datapackage.org/profiles/2.0/datapackage.json"
PROFILE = source_tree.PACKAGE_DATA / "datapackage-2.0.json"
EXTENSION = "x-reprotrain"
_FIELD_TYPES = {"float": "number", "integer": "integer", "boolean": "boolean"}
_DATES = frozenset({"date", "time", "datetime", "year", "yearmonth", "duration"})


def check(document: Any, where: str | Path) -> None:
    """Refuse a descriptor that the Data Package 2.0 profile rejects, naming the field."""
    import jsonschema

    profile = json.loads(
        fileio.read_bytes(PROFILE, root=source_tree.PACKAGE_DATA, what="Data Package profile")
    )
    validator = jsonschema.Draft7Validator(profile)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = "/".join(str(part) for part in first.absolute_path) or None
        raise ReprotrainError(
            where,
            field,
            f"is not a valid Data Package: {first.message[:300]}",
            f"correct it to the Data Package 2.0 profile ({PROFILE_URL})",
        )


def _name(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "table"


def _field(name: str, entry: Any) -> dict[str, Any]:
    column = {"type": entry} if isinstance(entry, str) else dict(entry)
    kind = column["type"]
    field: dict[str, Any] = {"name": name}
    if kind == "categorical":
        categories = list(column["categories"])
        whole = all(isinstance(value, int) for value in categories)
        field["type"] = "integer" if whole else "string"
        field["constraints"] = {"enum": categories}
    else:
        field["type"] = _FIELD_TYPES[kind]
    if kind == "boolean":
        field["trueValues"] = [w for w in TRUE_WORDS if not w.isdigit()]
        field["falseValues"] = [w for w in FALSE_WORDS if not w.isdigit()]
    if column.get("missing") != "impute":
        field.setdefault("constraints", {})["required"] = True
    return field


def descriptor(
    entry: dict[str, Any], name: str, version: str, path: str, size: int
) -> dict[str, Any]:
    """A registry entry as a Data Package: ``path`` is the table's, relative to where the
    descriptor is written; ``size`` its bytes."""
    schema = entry["schema"]
    features = schema["features"]
    if isinstance(features, list):
        features = dict.fromkeys(features, "float")
    fields = [_field(column, spec) for column, spec in features.items()]
    target: dict[str, Any] = {"name": schema["target"], "constraints": {"required": True}}
    if schema.get("task") == "regression":
        target["type"] = "number"
    else:
        classes = list(schema["classes"])
        target["type"] = "integer" if all(isinstance(c, int) for c in classes) else "string"
        target["constraints"]["enum"] = classes
    fields.append(target)
    fields += [{"name": column, "type": "any"} for column in schema.get("ignore", [])]
    return {
        "$schema": PROFILE_URL,
        "name": _name(f"{name}-{version}"),
        "resources": [
            {
                "name": _name(name),
                "type": "table",
                "path": path,
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "bytes": size,
                "hash": f"sha256:{entry['sha256']}",
                "description": entry.get("description", ""),
                "schema": {
                    "fields": fields,
                    "missingValues": list(MISSING_TOKENS),
                },
                EXTENSION: {
                    "dataset": name,
                    "version": version,
                    "target": schema["target"],
                    "task": schema.get("task", "classification"),
                },
            }
        ],
    }


def write(out: Path, repo: Path, entry: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    """Write the descriptor of a registered table to ``out``, beside the table or above
    it (a Data Package path never climbs out of its directory)."""
    table = (repo / entry["source"]).resolve()
    base = out.resolve().parent
    if not table.is_relative_to(base):
        raise ReprotrainError(
            out,
            "resources/0/path",
            f"would have to climb out of {base} to reach {entry['source']}, which a Data "
            "Package path may not",
            f"write it in {table.parent} or a directory above it",
        )
    document = descriptor(
        entry, name, version, table.relative_to(base).as_posix(), table.stat().st_size
    )
    check(document, out)
    fileio.atomic_write_bytes(out, (json.dumps(document, indent=2) + "\n").encode())
    return document


def read(path: Path, resource: str | None) -> tuple[dict[str, Any], Path]:
    """The resource of a checked descriptor (named, or its only one), and its table's
    path (relative to the descriptor's directory, never leaving it)."""
    document = fileio.read_json(path, what="Data Package descriptor", fix="give a datapackage.json")
    check(document, path)
    resources = document["resources"]
    names = [str(item.get("name")) for item in resources]
    chosen = [item for item in resources if resource in (None, item.get("name"))]
    if len(chosen) != 1:
        raise ReprotrainError(
            path,
            "--resource",
            f"names {'more than one' if chosen else 'no'} resource (it has: {', '.join(names)})",
            "name one with --resource",
        )
    item = chosen[0]
    where = f"resources/{resources.index(item)}"
    location = item.get("path")
    if not isinstance(location, str) or "://" in location:
        raise ReprotrainError(
            path,
            f"{where}/path",
            "is not one local file (inline data, several files or a URL)",
            "describe one CSV file beside the descriptor",
        )
    if posixpath.isabs(location) or ".." in posixpath.normpath(location).split("/"):
        raise ReprotrainError(path, f"{where}/path", "leaves the descriptor's directory", "fix it")
    if not isinstance(item.get("schema"), dict):
        raise ReprotrainError(
            path, f"{where}/schema", "is not an inline Table Schema", "inline the schema"
        )
    return item | {"x-where": where}, path.parent / location


def schema_of(
    resource: dict[str, Any],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    target: str | None,
    task: str,
    exclude: Sequence[str],
    where: str,
) -> dict[str, Any]:
    """A registry schema from a resource's Table Schema and the whole table: the declared
    type decides what a column is; a string column's categories and a target's classes
    come from the table when the schema has no ``enum``."""
    place = resource["x-where"]
    extension = resource.get(EXTENSION) or {}
    target = target or extension.get("target")
    if not target:
        raise ReprotrainError(where, "--target", "is needed", "name the column to predict")
    fields = {str(field["name"]): field for field in resource["schema"]["fields"]}
    if set(fields) != set(header):
        raise ReprotrainError(
            where,
            f"{place}/schema/fields",
            f"declares {sorted(fields)}, and the table's header is {sorted(header)}",
            "make the schema's fields the table's columns",
        )
    columns = {name: [row[index] for row in rows] for index, name in enumerate(header)}
    declared = fields[target].get("type", "string")
    if task == "auto" and declared == "number":
        task = "regression"
    elif task == "auto" and (
        declared in {"string", "boolean"} or "enum" in _constraints(fields[target])
    ):
        task = "classification"
    schema = infer_target(target, columns[target], task, where)
    if "classes" in schema and "enum" in _constraints(fields[target]):
        schema["classes"] = list(_constraints(fields[target])["enum"])
    features: dict[str, Any] = {}
    ignore = [name for name in header if name in exclude or fields[name].get("type") == "any"]
    for name in header:
        if name == target or name in ignore:
            continue
        features[name] = _column(name, fields[name], columns[name], f"{place}/schema/fields", where)
    schema["features"] = features
    if ignore:
        schema["ignore"] = ignore
    return schema


def _constraints(field: dict[str, Any]) -> dict[str, Any]:
    constraints = field.get("constraints")
    return constraints if isinstance(constraints, dict) else {}


def _column(name: str, field: dict[str, Any], values: Sequence[str], place: str, where: str) -> Any:
    kind = field.get("type", "string")
    enum = _constraints(field).get("enum")
    gaps = any(value in MISSING_TOKENS for value in values)
    column: dict[str, Any]
    if kind in _DATES or kind not in {"string", "number", "integer", "boolean"}:
        problem = "holds dates" if kind in _DATES else f"is of type {kind}"
        raise ReprotrainError(
            where,
            name,
            f"{problem} ({place}: {name}), which the schema has no type for yet",
            f"leave it out of the model: --exclude {name}",
        )
    if enum is not None:
        column = {"type": "categorical", "categories": list(enum)}
    elif kind == "number":
        column = {"type": "float"}
    elif kind == "integer":
        column = {"type": "integer"}
    elif kind == "boolean":
        column = {"type": "boolean"}
    else:
        # A string without enum is also what a describer falls back to when a value does
        # not parse (frictionless types a number column with "NA" gaps as string): what
        # it holds is inferred from the whole table, by add-data's rules.
        return infer_column(name, list(values), where)
    if gaps:
        column["missing"] = "impute"
    return column["type"] if list(column) == ["type"] else column
