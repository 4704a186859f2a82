"""Why the split tables are .npy: write and read times of the candidate formats.

    .venv/bin/python benchmarks/table_formats.py [--rows 1000000]

The table is the synthetic dataset's (20 float64 features and an int64 target). Only
formats that both the conda solve and the pip lock can read are candidates: pyarrow
(Parquet, Feather) is in neither. Prints a Markdown table; each figure is the median of
three runs, after checking that the format gives the frame back exactly.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reprotrain.datasets import load_yaml, resolve
from reprotrain.ml import tables
from reprotrain.ml.data import generate_synthetic


def csv_write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def csv_read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def npy_reader(schema):
    def npy_read(path: Path) -> pd.DataFrame:
        features, target = tables.read_table(path, schema)
        return features.assign(target=target)

    return npy_read


FORMATS = {
    "CSV (round-trip floats)": (csv_write, csv_read),
    ".npy structured array": (tables.write_table, npy_reader),
}


def median_seconds(function, *args) -> float:
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        function(*args)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    registry = load_yaml("config/datasets.yaml", "dataset registry")
    synthetic = resolve(registry, "synthetic", "v1", "registry")
    frame, _ = generate_synthetic(synthetic, rows)
    print(f"| format ({rows:,} rows) | write (s) | read (s) | size (MB) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for name, (write, read) in FORMATS.items():
            read = read(synthetic.schema) if read is npy_reader else read
            path = Path(scratch) / "table"
            write(frame, path)
            pd.testing.assert_frame_equal(read(path), frame, check_exact=True)
            written = median_seconds(write, frame, path)
            loaded = median_seconds(read, path)
            size = path.stat().st_size / 1e6
            print(f"| {name} | {written:.2f} | {loaded:.2f} | {size:.0f} |")


if __name__ == "__main__":
    main()
