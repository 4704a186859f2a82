"""Schema validation with one clear message: the file, the field, what is wrong, the fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reprotrain import fileio, yamlfile
from reprotrain.errors import ReprotrainError


def check(
    document: Any,
    schema_path: str | Path,
    file: str,
    sources: Sequence[str] = (),
    complete: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    command_line: Mapping[str, Any] | None = None,
) -> None:
    """Raise a ReprotrainError for the most relevant violation of the schema, if any.

    ``sources``: the YAML files ``document`` was merged from (a config and its overlays);
    the message then names the one that gave the field, and the value as it was written
    when YAML read it as something else (``1.10`` is the number 1.1). ``complete`` fills in
    what the schema file leaves to code (the model registry)."""
    # Imported here: a run whose checks are remembered (reprotrain.memo) never needs it.
    import jsonschema
    from jsonschema.exceptions import best_match

    schema = yaml.safe_load(fileio.read_text(schema_path, what="schema"))
    if complete is not None:
        schema = complete(schema)
    # Messages name the schema as the repository does, not by this machine's path.
    if Path(schema_path).is_absolute() and Path(schema_path).is_relative_to(Path.cwd()):
        schema_path = Path(schema_path).relative_to(Path.cwd())
    validator = _strict_validator(jsonschema)(schema)
    error = best_match(validator.iter_errors(document))
    if error is None:
        return
    parent = ".".join(str(part) for part in error.absolute_path)
    field = parent or "(top level)"
    if error.validator == "additionalProperties":
        # Keys YAML read as numbers or booleans are named as written.
        unknown = sorted(
            {str(key) for key in error.instance} - set(error.schema.get("properties", {}))
        )
        field = ".".join(filter(None, [parent, unknown[0]]))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        problem = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
        fix = f"remove or rename it (allowed here: {allowed})"
    elif error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        field = ".".join(filter(None, [parent, missing[0]]))
        problem = "is required but missing"
        fix = f"add {field} (see {schema_path})"
    else:
        problem = error.message
        described = error.schema.get("description") if isinstance(error.schema, dict) else None
        fix = f"correct {field} as {schema_path} allows"
        if described:
            fix += f": {' '.join(str(described).split())}"
    if (sources or command_line) and (found := yamlfile.locate(sources, field, command_line)):
        file, _, written = found
        value = error.instance
        if written and isinstance(value, (int, float)) and not isinstance(value, bool):
            if written != str(value):
                problem += f" (written {written}, which YAML reads as the number {value})"
            if error.validator == "type" and "string" in str(error.validator_value):
                fix = f'quote it: "{written}"; ' + fix
    raise ReprotrainError(file, field, problem, fix)


def _strict_validator(jsonschema: Any) -> Any:
    """Draft 2020-12, except that `integer` means an int: JSON Schema lets 42.0 pass, and a
    seed or an iteration count of 42.0 then fails deep inside a job."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)
