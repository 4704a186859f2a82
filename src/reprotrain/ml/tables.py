"""Split tables: NumPy .npy files holding one structured array, a field per column.

CSV was the first format and cost more than training at scale: on 1M rows x 21
columns, pandas' round-trip `to_csv` took 47 s and `read_csv` 15 s, against 0.4 s to
save and 0.6 s to load the same table as .npy (benchmarks/table_formats.py). An .npy file
needs only numpy (pyarrow, for Parquet, is not in the conda solve), holds float64
exactly, names and types its columns in its header, has no timestamp, and loads
without unpickling anything.

Every feature is float64 there (a category as its index in the declared categories, a
missing value as NaN) and a class is its index in `classes` (reprotrain.ml.data). Reading
turns them back into what the raw table held, so that the model is fitted on, and
predicts from, rows as the registered table has them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib import recfunctions

from reprotrain import fileio
from reprotrain.datasets import Column, TableSchema
from reprotrain.errors import ReprotrainError


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    records = frame.to_records(index=False)
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array(buffer, records, version=(1, 0), allow_pickle=False)
    except ValueError:  # a header past 64 KiB (thousands of columns) needs format 2.0
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, records, version=(2, 0), allow_pickle=False)
    fileio.atomic_write_bytes(path, buffer.getbuffer())


def header_bound(schema: TableSchema) -> int:
    """The most header bytes a split table of ``schema`` can need: its dtype names each
    column (``('name', '<f8'), ``), so the bound grows with the table's width. numpy's
    own default (10,000 bytes) stopped tables wider than about 416 columns; a header
    beyond this bound is not one of ours, and is refused before it is parsed."""
    names = (column.name for column in schema.columns)
    return 1024 + sum(4 * len(name.encode("utf-8")) + 32 for name in (*names, schema.target))


def read_table(path: str | Path, schema: TableSchema) -> tuple[pd.DataFrame, pd.Series]:
    """The features (named columns in declared order, a category as its text) and the
    target (a class as its label, a regression target as float64)."""
    with fileio.open_file(path, what="split table", fix="delete it and rerun") as handle:
        try:
            records = np.load(handle, allow_pickle=False, max_header_size=header_bound(schema))
        except ValueError as error:
            raise ReprotrainError(
                path, None, f"is not a split table: {error}", "delete it and rerun"
            ) from None
    names = list(schema.features)
    block = recfunctions.structured_to_unstructured(records[names], copy=True)
    features = model_features(pd.DataFrame(block, columns=names, copy=False), schema)
    target = records[schema.target].copy()
    if schema.is_classification:
        target = np.asarray(schema.classes)[target]
    return features, pd.Series(target, name=schema.target)


def model_features(encoded: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Encoded features (reprotrain.ml.data.encode_table: every column float64) as the
    model takes them: a category as its text (or number) again. Training, validation and
    prediction all go through here."""
    for column in schema.columns:
        if column.type == "categorical":
            encoded[column.name] = _categories(encoded[column.name].to_numpy(), column)
    return encoded


def _categories(codes: np.ndarray, column: Column) -> np.ndarray:
    """Category indices back to the categories as the registry lists them: text as str
    objects, numbers as integers (floats where a value is missing), NaN where missing."""
    missing = np.isnan(codes)
    if column.categories and isinstance(column.categories[0], int):
        values = np.asarray(column.categories, dtype=np.int64)[
            np.where(missing, 0, codes).astype(np.int64)
        ]
        return np.where(missing, np.nan, values) if missing.any() else values
    labels = np.asarray(column.categories, dtype=object)
    decoded = np.full(len(codes), np.nan, dtype=object)
    decoded[~missing] = labels[codes[~missing].astype(np.int64)]
    return decoded
