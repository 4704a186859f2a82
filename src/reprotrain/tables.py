"""Split tables: NumPy .npy files holding one structured array, a field per column.

CSV was the first format and cost more than training at scale: on 1M rows x 21
columns, pandas' round-trip `to_csv` took 47 s and `read_csv` 15 s, against 0.4 s to
save and 0.6 s to load the same table as .npy (benchmarks/table_formats.py). An .npy file
needs only numpy (pyarrow, for Parquet, is not in the conda solve), holds float64
exactly, names and types its columns in its header, has no timestamp, and loads
without unpickling anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib import recfunctions


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    with Path(path).open("wb") as handle:
        np.save(handle, frame.to_records(index=False), allow_pickle=False)


def read_table(path: str | Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """The features (one contiguous float block, named columns) and the target column."""
    records = np.load(path, allow_pickle=False)
    names = [name for name in records.dtype.names if name != target]
    block = recfunctions.structured_to_unstructured(records[names], copy=True)
    features = pd.DataFrame(block, columns=names, copy=False)
    return features, pd.Series(records[target].copy(), name=target)
