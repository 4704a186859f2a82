"""Raw data: verify its pinned sha256, validate it against its schema, split it.

Runs inside rules (pandas and scikit-learn from the locked environment). The checks are
reprotrain's own, so that every refusal names the column, the line, the value and the fix.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from reprotrain import fileio, netio
from reprotrain.datasets import (
    FALSE_WORDS,
    MISSING_TOKENS,
    TARGET_DTYPE,
    TRUE_WORDS,
    Column,
    Dataset,
    TableSchema,
)
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_buffers
from reprotrain.yamlfile import CONFIG_LABEL

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


# Bytes a CSV cell never holds by intent: C0 controls but tab, CR and LF, and DEL. A NUL
# inside a cell ("17.9\x009") ends the number for the C parser: it trained as 17.9.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHUNK = 1 << 20
# A raw table up to this size is held in memory; a larger one is copied, as it is hashed,
# to a private temporary file (TMPDIR) and parsed from there: memory holds the parsed
# table, never the raw bytes as well.
IN_MEMORY_LIMIT = 32 * 1024 * 1024


def read_verified(path: str | Path, dataset: Dataset, registry_path: str) -> IO[bytes]:
    """The raw file's bytes, read once and refused unless they are the registered ones
    (``verified_copy``)."""
    missing = (
        f"restore it, or correct datasets.{dataset.name}.{dataset.version}.source "
        f"in {registry_path}"
    )
    with fileio.open_file(
        path,
        follow=True,
        what=f"raw data file of {dataset.name} {dataset.version}",
        fix=missing,
    ) as source:
        return verified_copy(source, path, dataset, registry_path)


def fetch_verified(
    url: str, dataset: Dataset, registry_path: str, limits: netio.Limits
) -> IO[bytes]:
    """The raw table served at ``url``, streamed within ``limits`` into a verified copy
    (``verified_copy``); nothing of it is written where the URL could name."""
    with netio.open_url(url, limits) as source:
        return verified_copy(source, url, dataset, registry_path)


def verified_copy(
    source: IO[bytes], path: str | Path, dataset: Dataset, registry_path: str
) -> IO[bytes]:
    """A private copy of ``source`` (memory, or a temporary file for a large table),
    refused unless its sha256 is the registered one, positioned at its start. Parse this
    copy, not the file again: between a check and a second read, the file could be
    swapped for others. The source is streamed, so a table larger than memory is hashed
    all the same; a control character is refused with its line and column."""
    copy = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_LIMIT)  # noqa: SIM115 (returned)
    try:
        actual, control = _copy_checked(source, copy, path)
    except BaseException:
        copy.close()
        raise
    if actual != dataset.sha256:
        copy.close()
        raise ReprotrainError(
            path,
            "sha256",
            f"content does not match the registry: expected {dataset.sha256}, actual {actual}",
            f"restore the original file; if these bytes are a new data version, register them "
            f"as a new version in {registry_path} (datasets.{dataset.name}) instead of "
            f"editing datasets.{dataset.name}.{dataset.version}.sha256",
        )
    copy.seek(0)
    if control is not None and not copy.read(2).startswith(GZIP_MAGIC):  # gzip: said below
        copy.close()
        where, character = control.split(": ", 1)
        raise ReprotrainError(
            path,
            where,
            f"holds the control character {character}, which no CSV value holds by intent "
            "(a NUL ends a number early)",
            f"remove it; {schema_fix(dataset, registry_path)}",
        )
    log.info("sha256 of %s verified: %s", path, actual)
    copy.seek(0)
    return copy


def _copy_checked(source: IO[bytes], copy: IO[bytes], path: str | Path) -> tuple[str, str | None]:
    """Copy ``source`` to ``copy`` in chunks: its sha256, and where its first control
    character is (line and column), if it holds one."""
    digest = hashlib.sha256()
    offset = 0  # of the chunk in the file
    lines, line_start = 0, 0  # newlines before the chunk; offset of the current line
    control: str | None = None
    try:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            if control is None and (found := _CONTROL.search(chunk)):
                before = chunk[: found.start()]
                if (newline := before.rfind(b"\n")) >= 0:
                    line_start = offset + newline + 1
                control = (
                    f"line {lines + before.count(b'\n') + 1}, "
                    f"column {offset + found.start() - line_start + 1}: {found.group()!r}"
                )
            if (newline := chunk.rfind(b"\n")) >= 0:
                lines += chunk.count(b"\n")
                line_start = offset + newline + 1
            offset += len(chunk)
            try:
                copy.write(chunk)
            except OSError as error:  # the private copy, not the raw file, failed
                where = f"{tempfile.gettempdir()} (TMPDIR, the verified copy of {path})"
                raise ReprotrainError(
                    where,
                    None,
                    f"could not be written: {error.strerror}",
                    "give the job a TMPDIR with room for the raw table (resources: tmpdir)",
                ) from None
    except OSError as error:
        raise fileio.os_error(path, error) from None
    return digest.hexdigest(), control


def schema_field(dataset: Dataset) -> str:
    """Where the registry declares a data version's schema."""
    return f"datasets.{dataset.name}.{dataset.version}.schema"


def schema_fix(
    dataset: Dataset, registry_path: str, field_: str | None = None, with_target: bool = True
) -> str:
    names = dataset.schema.names if with_target else dataset.schema.features
    return (
        f"make the table match {field_ or schema_field(dataset)} in "
        f"{registry_path} (columns {list(names)}, in any order)"
    )


class _Refusal(Exception):
    """One column's first bad value: its table line (1 is the header), what is wrong, the fix."""

    def __init__(self, line: int | None, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.line, self.problem, self.fix = line, problem, fix


def _first(mask: Any) -> tuple[int, int]:
    """The position of the first True in ``mask`` and how many more there are."""
    hits = np.flatnonzero(np.asarray(mask))
    return int(hits[0]), len(hits) - 1


def _refuse(
    series: pd.Series, mask: Any, say: Callable[[Any], str], fix: str | None = None
) -> None:
    """Refuse the first value where ``mask`` holds: ``say(value)`` describes it."""
    if mask.any():
        row, more = _first(mask)
        value = series.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value  # 1, not np.int64(1)
        problem = say(value) + (f" (and {more} more row{'s' * (more > 1)})" if more else "")
        raise _Refusal(row + 2, problem, fix)


def _as_numbers(series: pd.Series) -> pd.Series:
    """A column as float64; a value that is not a number is refused."""
    if pd.api.types.is_bool_dtype(series):
        raise _Refusal(None, "holds true/false values", "declare the column boolean")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    parsed = pd.to_numeric(series, errors="coerce")
    _refuse(series, parsed.isna() & series.notna(), lambda v: f"{v!r} is not a number")
    # Every value is a number after all (a mix pandas kept as text): parse them exactly.
    return series.map(float, na_action="ignore").astype("float64")


def _as_booleans(series: pd.Series) -> pd.Series:
    words = {word: 1.0 for word in TRUE_WORDS} | {word: 0.0 for word in FALSE_WORDS}
    values = series.map(
        lambda v: words.get(str(v).lower(), float("inf")), na_action="ignore"
    ).astype("float64")
    _refuse(
        series,
        np.isinf(values),
        lambda v: f"{v!r} is not a boolean",
        "write true/false (or 1/0, yes/no) in the column",
    )
    return values


def _encode_feature(series: pd.Series, column: Column) -> pd.Series:
    """One feature column as float64: numbers as they are, a boolean as 1/0, a category as
    its index in the declared categories, a missing value as NaN (where allowed)."""
    if column.type == "categorical":
        categories = [str(category) for category in column.categories]
        codes = pd.Categorical(series.astype("string"), categories=categories).codes
        values = pd.Series(np.where(codes < 0, np.nan, codes), dtype="float64")
        _refuse(
            series,
            (codes < 0) & series.notna().to_numpy(),  # a gap is judged below
            lambda v: f"{v!r} is not one of its categories {categories}",
            "correct the value, or register a new data version whose schema lists it",
        )
    elif column.type == "boolean":
        values = _as_booleans(series)
    else:
        values = _as_numbers(series)
        _refuse(
            series,
            np.isinf(values),
            lambda v: f"{v!r} is not a finite number",
            "correct or remove the row",
        )
        if column.type == "integer":
            _refuse(
                series,
                values.notna() & (values != np.floor(values)),
                lambda v: f"{v!r} is not a whole number",
                "correct the value, or declare the column float",
            )
    if not column.impute:
        _refuse(
            series,
            values.isna(),
            lambda _: "a value is missing, and the column does not allow missing values",
            f"fill it in, or declare the column `{{type: {column.type}"
            + (", categories: [...]" if column.type == "categorical" else "")
            + ", missing: impute}` so that the model imputes it (config preprocessing)",
        )
    return values


def _encode_target(series: pd.Series, schema: TableSchema) -> pd.Series:
    """The target: a class as its index in `classes`, a regression target as float64."""
    _refuse(
        series,
        series.isna(),
        lambda _: "the target is missing",
        "fill in the target of the row, or remove the row",
    )
    if not schema.is_classification:
        values = _as_numbers(series)
        _refuse(series, np.isinf(values), lambda v: f"{v!r} is not a finite number")
        return values
    classes = [str(label) for label in schema.classes]
    codes = pd.Categorical(series.astype("string"), categories=classes).codes
    _refuse(
        series,
        codes < 0,
        lambda v: f"{v!r} is not one of the classes {classes}",
        "correct the label, or list the class in the schema's classes (a new data version)",
    )
    if len(np.unique(codes)) < 2:
        raise _Refusal(
            None,
            f"holds only the class {series.iloc[0]!r}: a classifier needs at least two classes",
            "add rows of the other classes",
        )
    return pd.Series(codes, dtype=TARGET_DTYPE)


def encode_table(
    frame: pd.DataFrame,
    dataset: Dataset,
    origin: str | Path,
    registry_path: str,
    *,
    entry: str | None = None,
    with_target: bool = True,
) -> pd.DataFrame:
    """Check a raw table against its registry schema and encode it for the split tables:
    the declared columns in declared order (features, then the target), every feature
    float64, a class as its index. ``origin`` names the table in errors; each refusal names
    the column, the line and the value found, and the schema's field (``entry`` in
    ``registry_path``: the registry's by default). Without ``with_target`` (rows to
    predict) the target may be absent, and is dropped unchecked when present."""
    entry = entry or schema_field(dataset)
    fix = schema_fix(dataset, registry_path, entry, with_target)
    schema = dataset.schema
    wanted = schema.names if with_target else schema.features
    dropped = [*schema.ignored, *([] if with_target else [schema.target])]
    frame = frame.drop(columns=[name for name in dropped if name in frame.columns])
    declared = set(wanted)
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ReprotrainError(origin, missing[0], f"the table has no column {missing[0]!r}", fix)
    unexpected = [str(name) for name in frame.columns if name not in declared]
    if unexpected:
        raise ReprotrainError(
            origin,
            unexpected[0],
            f"the table has a column {unexpected[0]!r} that its schema does not declare",
            f"declare it in {entry}.features in {registry_path}, or "
            "remove the column (a new data version either way)"
            if with_target
            else f"remove the column: the model takes the columns {list(wanted)} "
            f"({entry} in {registry_path})",
        )
    encoded = {}
    for name, encode in [
        *((column.name, lambda s, c=column: _encode_feature(s, c)) for column in schema.columns),
        *([(schema.target, lambda s: _encode_target(s, schema))] if with_target else []),
    ]:
        series = frame[name].reset_index(drop=True)
        try:
            encoded[name] = encode(series)
        except _Refusal as refusal:
            where = f"line {refusal.line}: " if refusal.line else ""
            kind = "target" if name == schema.target else "column"
            declared_in = f"{entry}.{'target' if kind == 'target' else 'features.' + name}"
            raise ReprotrainError(
                origin,
                name,
                f"{kind} {name!r}: {where}{refusal.problem}",
                # A trained model's schema is fixed: rows to predict are corrected instead.
                f"correct the rows to match {declared_in} in {registry_path}, the schema "
                "the model was trained on"
                if not with_target
                else f"{refusal.fix} ({declared_in} in {registry_path})"
                if refusal.fix
                else fix,
            ) from None
    log.info("%s: %d rows validated against the registry schema", origin, len(frame))
    return pd.DataFrame(encoded)


def read_raw_table(
    path: str | Path,
    dataset: Dataset,
    registry_path: str,
    content: bytes | IO[bytes] | None = None,
    *,
    entry: str | None = None,
    with_target: bool = True,
) -> pd.DataFrame:
    """Parse, schema-check and encode a raw table (``encode_table``, with ``entry`` and
    ``with_target``): ``content``, the verified copy ``read_verified`` made of ``path`` (or
    bytes; without it, the file as it is now). The parse streams: its memory is the
    table's, not the raw bytes'."""
    fix = schema_fix(dataset, registry_path, entry, with_target)
    if content is None:
        content = fileio.open_file(path, follow=True, what="raw data file")
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    head = stream.read(4096)
    stream.seek(0)
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
        frame = pd.read_csv(
            stream,
            encoding="utf-8",
            float_precision="round_trip",
            # Labels and categories are compared as written ("01" is not 1).
            dtype={name: "string" for name in _text_columns(dataset.schema)},
            keep_default_na=False,
            na_values=list(MISSING_TOKENS),
        )
    except UnicodeDecodeError as error:
        raise ReprotrainError(path, None, f"is not UTF-8 text ({error.reason})", fix) from None
    except pd.errors.EmptyDataError:
        raise ReprotrainError(path, None, "is empty", fix) from None
    except pd.errors.ParserError as error:
        raise ReprotrainError(path, None, f"is not valid CSV: {error}", fix) from None
    except MemoryError:
        raise ReprotrainError(
            path,
            None,
            "the parsed table does not fit in this job's memory",
            "give the job more memory (resources: mem_mb), or register a smaller table",
        ) from None
    finally:
        stream.close()
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
    return encode_table(frame, dataset, path, registry_path, entry=entry, with_target=with_target)


def _text_columns(schema: TableSchema) -> list[str]:
    # An ignored column is read as text, whatever it holds: nothing of it is parsed.
    text = [column.name for column in schema.columns if column.type == "categorical"]
    text += list(schema.ignored)
    return [*text, schema.target] if schema.is_classification else text


def _check_header_names(first_line: bytes, path: str | Path, fix: str) -> None:
    """A name given twice would be renamed by pandas (``x.1``) and reported as unknown."""
    import csv

    try:
        names = next(csv.reader([first_line.decode("utf-8").rstrip("\r")]), [])
    except (UnicodeDecodeError, csv.Error):
        return  # reported by the parse: not UTF-8, or not CSV
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
    frame: pd.DataFrame,
    schema: TableSchema,
    test_fraction: float,
    seed: int,
    origin: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split, stratified by class for a classification task, that keeps
    the original row order inside each part.

    ``origin`` names the table in errors. What scikit-learn needs is checked first: two
    rows of each class, and a row of each class on both sides."""
    target = schema.target
    if schema.is_classification:
        counts = frame[target].value_counts(sort=False).sort_index()
        scarce = counts[counts < 2]
        if not scarce.empty:
            raise ReprotrainError(
                origin,
                target,
                f"class {schema.classes[scarce.index[0]]} has {scarce.iloc[0]} row: a "
                "stratified split needs at least 2 rows of every class, one for training "
                "and one for testing",
                "add rows of that class, or remove the class from the table and its schema",
            )
        needed, each = len(counts), f"a row of each of the {len(counts)} classes"
    else:
        needed, each = 1, "a row"
    rows = len(frame)
    testing = math.ceil(test_fraction * rows)
    if testing < needed or rows - testing < needed:
        raise ReprotrainError(
            CONFIG_LABEL,
            "split.test_fraction",
            f"{test_fraction} of {rows} rows leaves {rows - testing} for training and "
            f"{testing} for testing, but each needs {each}",
            f"choose a test_fraction from {needed / rows:.4g} to {1 - needed / rows:.4g}"
            " (0.2 to 0.3 is usual)",
        )
    train, test = train_test_split(
        frame,
        test_size=test_fraction,
        random_state=seed,
        stratify=frame[target] if schema.is_classification else None,
    )
    return train.sort_index().reset_index(drop=True), test.sort_index().reset_index(drop=True)
