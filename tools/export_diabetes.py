"""Export the embedded regression dataset (diabetes v1.0) once from scikit-learn's bundled
copy of Efron et al. (2004), unscaled: 442 patients, 10 baseline variables, and a
quantitative measure of disease progression one year later (BSD-3-Clause, as
scikit-learn).

    python tools/export_diabetes.py data/diabetes/v1.0/diabetes.csv

Whole-number columns are written as integers (age, sex as its 1/2 code, s1, s6, the
target), so the table has integer, categorical and float columns. The output is committed;
its sha256 is pinned in config/datasets.yaml. Rerunning this with scikit-learn 1.7.2
reproduces the committed bytes.
"""

import sys

import numpy as np
from sklearn.datasets import load_diabetes

WHOLE = ("age", "sex", "s1", "s6", "progression")


def main(out_path: str) -> None:
    frame = load_diabetes(scaled=False, as_frame=True).frame.rename(
        columns={"target": "progression"}
    )
    for column in WHOLE:
        assert (frame[column] == np.floor(frame[column])).all(), column
        frame[column] = frame[column].astype("int64")
    frame.to_csv(out_path, index=False, lineterminator="\n")


if __name__ == "__main__":
    main(sys.argv[1])
