"""Export the embedded default dataset (v1.0) once from scikit-learn's bundled copy.

    python tools/export_breast_cancer.py data/breast_cancer/v1.0/breast_cancer.csv

The output is committed; its sha256 is pinned in config/datasets.yaml. Rerunning this
with scikit-learn 1.7.2 reproduces the committed bytes.
"""

import re
import sys

from sklearn.datasets import load_breast_cancer


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def main(out_path: str) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [snake_case(column) for column in frame.columns]
    frame.to_csv(out_path, index=False, lineterminator="\n")


if __name__ == "__main__":
    main(sys.argv[1])
