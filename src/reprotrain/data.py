"""Raw data: verify its pinned sha256, validate it against its schema, split it.

Runs inside rules (pandas, pandera, scikit-learn from the locked environment).
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_buffers, sha256_bytes
from reprotrain.registry import FEATURE_DTYPE, TARGET_DTYPE, Dataset, TableSchema

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 5
GZIP_MAGIC = b"\x1f\x8b"


def read_verified(path: str | Path, dataset: Dataset, registry_path: str) -> bytes:
    """The raw file's bytes, read once and refused unless they are the registered ones.

    Parse these very bytes, not the file again: between a check and a second read, the
    file could be swapped for others.
    """
    try:
        content = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ReprotrainError(
            path,
            None,
            f"the raw data file of {dataset.name} {dataset.version} does not exist",
            f"restore it, or correct datasets.{dataset.name}.{dataset.version}.source "
            f"in {registry_path}",
        ) from None
    actual = sha256_bytes(content)
    if actual != dataset.sha256:
        raise ReprotrainError(
            path,
            "sha256",
            f"content does not match the registry: expected {dataset.sha256}, actual {actual}",
            f"restore the original file; if these bytes are a new data version, register them "
            f"as a new version in {registry_path} (datasets.{dataset.name}) instead of "
            f"editing datasets.{dataset.name}.{dataset.version}.sha256",
        )
    log.info("sha256 of %s verified: %s", path, actual)
    return content


def pandera_schema(schema: TableSchema) -> pa.DataFrameSchema:
    finite = pa.Check(lambda column: np.isfinite(column), error="values must be finite")
    columns = {
        name: pa.Column(FEATURE_DTYPE, checks=finite, nullable=False) for name in schema.features
    }
    columns[schema.target] = pa.Column(
        TARGET_DTYPE, checks=pa.Check.isin(list(schema.classes)), nullable=False
    )
    at_least_two_classes = pa.Check(
        lambda frame: frame[schema.target].nunique() >= 2,
        error=f"column {schema.target!r} must hold at least two classes",
    )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, checks=[at_least_two_classes])


# pandera's checks that concern the set of columns, not their values.
_MISSING_COLUMN, _UNEXPECTED_COLUMN = "column_in_dataframe", "column_in_schema"


def _describe_failures(errors: SchemaErrors, schema: TableSchema) -> tuple[str, str]:
    """The first failing column (the message's field) and a short list of what failed."""
    lines, fields = [], []
    for row in errors.failure_cases.itertuples():
        if row.check == _MISSING_COLUMN:
            fields.append(row.failure_case)
            lines.append(f"missing column {row.failure_case!r}")
        elif row.check == _UNEXPECTED_COLUMN:
            fields.append(row.failure_case)
            lines.append(f"unexpected column {row.failure_case!r}")
        elif isinstance(row.column, str):
            fields.append(row.column)
            example = "" if pd.isna(row.failure_case) else f" (found {row.failure_case!r})"
            lines.append(f"column {row.column!r}: {row.check}{example}")
        else:  # a table-wide check: the only one is about the target's classes
            fields.append(schema.target)
            lines.append(str(row.check))
    listed = "; ".join(dict.fromkeys(lines[:MAX_LISTED_FAILURES]))
    if len(lines) > MAX_LISTED_FAILURES:
        listed += f"; ... and {len(lines) - MAX_LISTED_FAILURES} more"
    return fields[0], listed


def schema_fix(dataset: Dataset, registry_path: str) -> str:
    return (
        f"make the table match datasets.{dataset.name}.{dataset.version}.schema in "
        f"{registry_path} (columns {list(dataset.schema.columns)}, features {FEATURE_DTYPE}, "
        f"target {TARGET_DTYPE} in {list(dataset.schema.classes)})"
    )


def read_raw_table(
    path: str | Path, dataset: Dataset, registry_path: str, content: bytes | None = None
) -> pd.DataFrame:
    """Parse and schema-validate a raw table: ``content``, the bytes ``read_verified`` read
    from ``path`` (or, without it, the file as it is now)."""
    fix = schema_fix(dataset, registry_path)
    if content is None:
        content = Path(path).read_bytes()
    head = content[:4096]
    if head.startswith(GZIP_MAGIC):
        raise ReprotrainError(
            path,
            None,
            "is gzip-compressed, but a plain CSV file is expected",
            f"decompress it; {fix}",
        )
    first_line = head.split(b"\n", 1)[0]
    _check_header_names(first_line, path, fix)
    if b"," not in first_line and any(sep in first_line for sep in (b";", b"\t", b"|")):
        raise ReprotrainError(
            path,
            "delimiter",
            "the header has no comma but another separator: the file is not comma-separated",
            f"write it with ',' as the delimiter; {fix}",
        )
    try:
        frame = pd.read_csv(io.BytesIO(content), encoding="utf-8", float_precision="round_trip")
    except UnicodeDecodeError as error:
        raise ReprotrainError(path, None, f"is not UTF-8 text ({error.reason})", fix) from None
    except pd.errors.EmptyDataError:
        raise ReprotrainError(path, None, "is empty", fix) from None
    except pd.errors.ParserError as error:
        raise ReprotrainError(path, None, f"is not valid CSV: {error}", fix) from None
    if frame.empty:
        raise ReprotrainError(path, None, "has a header but no rows", fix)
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas makes the first column the index when every row has one field more.
        raise ReprotrainError(
            path,
            None,
            f"its rows have one field more than its header ({len(frame.columns)} names): a "
            "comma at the end of each row, or one inside an unquoted value",
            f"remove the extra field (or quote the value); {fix}",
        )
    validate_table(frame, dataset, path, fix)
    return frame


def _check_header_names(first_line: bytes, path: str | Path, fix: str) -> None:
    """A name given twice would be renamed by pandas (``x.1``) and reported as unknown."""
    import csv

    try:
        names = next(csv.reader([first_line.decode("utf-8").rstrip("\r")]), [])
    except UnicodeDecodeError:
        return  # reported as not UTF-8 by the parse
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise ReprotrainError(
                path,
                name,
                f"the header names column {name!r} twice (columns {seen[name]} and {number})",
                f"give each column its own name; {fix}",
            )
        seen[name] = number


def validate_table(frame: pd.DataFrame, dataset: Dataset, origin: str | Path, fix: str) -> None:
    """Check a raw table against its registry schema; ``origin`` names it in errors."""
    try:
        pandera_schema(dataset.schema).validate(frame, lazy=True)
    except SchemaErrors as errors:
        column, summary = _describe_failures(errors, dataset.schema)
        raise ReprotrainError(
            origin, column, f"does not match its schema: {summary}", fix
        ) from None
    log.info("%s: %d rows validated against the registry schema", origin, len(frame))


def generate_synthetic(dataset: Dataset, rows: int) -> tuple[pd.DataFrame, str]:
    """A seeded make_classification table (same rows and seed give the same bytes) and
    the sha256 of its generated arrays: the features, then the target, C order."""
    spec = dataset.generator
    features, target = make_classification(
        n_samples=rows,
        n_features=spec["n_features"],
        n_informative=spec["n_informative"],
        n_redundant=spec["n_redundant"],
        n_classes=spec["n_classes"],
        class_sep=spec["class_sep"],
        flip_y=spec["flip_y"],
        random_state=spec["seed"],
    )
    target = target.astype(TARGET_DTYPE)
    digest = sha256_buffers(features, target)
    frame = pd.DataFrame(features, columns=list(dataset.schema.features), copy=False)
    frame[dataset.schema.target] = target
    return frame, digest


def split(
    frame: pd.DataFrame, target: str, test_fraction: float, seed: int, origin: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded, stratified train/test split that keeps the original row order inside each part.

    ``origin`` names the table in errors. What scikit-learn needs is checked first: two
    rows of each class, and a row of each class on both sides."""
    counts = frame[target].value_counts(sort=False).sort_index()
    scarce = counts[counts < 2]
    if not scarce.empty:
        raise ReprotrainError(
            origin,
            target,
            f"class {scarce.index[0]} has {scarce.iloc[0]} row: a stratified split needs at "
            "least 2 rows of every class, one for training and one for testing",
            "add rows of that class, or remove the class from the table and its schema",
        )
    rows, classes = len(frame), len(counts)
    testing = math.ceil(test_fraction * rows)
    if testing < classes or rows - testing < classes:
        raise ReprotrainError(
            "config/config.yaml",
            "split.test_fraction",
            f"{test_fraction} of {rows} rows leaves {rows - testing} for training and "
            f"{testing} for testing, but each needs a row of each of the {classes} classes",
            f"choose a test_fraction from {classes / rows:.4g} to {1 - classes / rows:.4g}"
            " (0.2 to 0.3 is usual)",
        )
    train, test = train_test_split(
        frame, test_size=test_fraction, random_state=seed, stratify=frame[target]
    )
    return train.sort_index().reset_index(drop=True), test.sort_index().reset_index(drop=True)
