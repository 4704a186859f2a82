"""Split tables: CSV that pandas writes and reads back exactly, in the venv and in conda.

pyarrow is not in the conda solve, so Parquet is not an option inside rules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV with shortest round-trip float repr and LF endings: readable by both environments."""
    frame.to_csv(path, index=False, lineterminator="\n")


def read_table(path: str | Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Read a split table written by write_table, exactly (round-trip float parsing)."""
    frame = pd.read_csv(path, float_precision="round_trip")
    return frame.drop(columns=[target]), frame[target]
