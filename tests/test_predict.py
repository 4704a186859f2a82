"""`reprotrain predict`: a recorded model scores new rows only when its bytes, its
environment and the rows are the ones the record vouches for, and its predictions are the
same bytes whatever numeric kernels the shell would pick."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import BIN, MODEL, REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprotrain.datasets import Dataset, resolve
from reprotrain.errors import ReprotrainError
from reprotrain.ml import data
from reprotrain.records import manifest
from reprotrain.steps import prediction

RAW = REPO / "data/breast_cancer/v1.0/breast_cancer.csv"


def rows_without_target(path: Path, count: int = 60) -> str:
    table = pd.read_csv(RAW, dtype=str, keep_default_na=False).drop(columns=["target"])
    return table.head(count).to_csv(path, index=False) or str(path)


def predict(workdir: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [str(BIN / "reprotrain"), "predict", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
    )


def refused_once(done: subprocess.CompletedProcess, *expected: str) -> str:
    """One message on stderr, exit 2, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("reprotrain: ") == 1, done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr
    return done.stderr


@pytest.mark.pipeline
def test_predictions_are_written_with_their_record_and_ignore_the_shells_kernels(
    default_run, tmp_path
):
    rows = rows_without_target(tmp_path / "rows.csv")
    first = predict(default_run, rows, "--out", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    # Another CPU's kernels, as a shell could select them: predict pins the recorded ones.
    other_cpu = os.environ | {
        "OPENBLAS_CORETYPE": "Nehalem",
        "NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 AVX512F AVX512CD AVX512_SKX",
        "OMP_NUM_THREADS": "2",
    }
    second = predict(default_run, rows, "--out", str(tmp_path / "b.csv"), env=other_cpu)
    assert second.returncode == 0, second.stderr
    predicted = (tmp_path / "a.csv").read_bytes()
    assert predicted == (tmp_path / "b.csv").read_bytes()

    table = list(csv.reader(io.StringIO(predicted.decode())))
    assert table[0] == ["target_predicted", "probability_0", "probability_1"]
    assert len(table) == 61
    for label, *probabilities in table[1:]:
        values = [float(p) for p in probabilities]
        assert abs(sum(values) - 1) < 1e-12
        assert label == str(values.index(max(values)))
    record = json.loads((tmp_path / "a.csv.record.json").read_text())
    run = manifest.load(default_run / "results/manifest.json", "run manifest")
    assert record["model"]["sha256"] == run["files"][f"{MODEL}/model.pkl"]["sha256"]
    assert record["model"]["run"] == "breast_cancer/v1.0/seed-42/hist_gradient_boosting"
    assert record["input"] == {
        "file": rows,
        "sha256": hashlib.sha256(Path(rows).read_bytes()).hexdigest(),
        "rows": 60,
    }
    assert record["output"]["sha256"] == hashlib.sha256(predicted).hexdigest()
    assert record["environment"]["differences"] == []
    assert record["numerics"] == run["provenance"]["environment"]["hardware"]["pin"]


def _flip_a_byte(workdir: Path) -> None:
    model = workdir / MODEL / "model.pkl"
    data_ = model.read_bytes()
    model.write_bytes(data_[:-1] + bytes([data_[-1] ^ 1]))


def _forge_model_card_and_manifest(workdir: Path) -> None:
    """Another pickle, with the card and the run manifest rewritten to agree with it."""
    model = workdir / MODEL / "model.pkl"
    forged = b"cos\nsystem\n(S'touch pwned'\ntR."
    model.write_bytes(forged)
    digest = hashlib.sha256(forged).hexdigest()
    card = workdir / MODEL / "model_card.json"
    fields = json.loads(card.read_text())
    fields["model"]["sha256"] = digest
    card.write_text(json.dumps(fields))
    run_path = workdir / "results/manifest.json"
    document = json.loads(run_path.read_text())
    for path, value in ((f"{MODEL}/model.pkl", forged), (f"{MODEL}/model_card.json", None)):
        content = value if value is not None else card.read_bytes()
        document["files"][path]["sha256"] = hashlib.sha256(content).hexdigest()
    del document["integrity"]
    run_path.write_text(json.dumps(document | {"integrity": manifest.integrity(document)}))


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (_flip_a_byte, "no longer match this manifest"),
        (_forge_model_card_and_manifest, "does not reproduce the record"),
    ],
)
def test_a_tampered_model_is_never_unpickled(default_run, tmp_path, tamper, says):
    workdir = shutil.copytree(default_run, tmp_path / "run", symlinks=True)
    tamper(workdir)
    rows = rows_without_target(tmp_path / "rows.csv")
    done = predict(workdir, rows, "--out", str(tmp_path / "out.csv"))
    refused_once(done, says)
    assert not (workdir / "pwned").exists()
    assert not (tmp_path / "out.csv").exists()


def _venv_claiming(tmp_path: Path, package: str, version: str) -> Path:
    """A venv of this Python that sees the test venv's packages, with one distribution's
    metadata claiming another version first on its path."""
    base = Path(sys._base_executable)  # the interpreter the test venv was made from
    venv = tmp_path / "other-venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    (site / "test-venv.pth").write_text(
        next(p for p in sys.path if p.endswith("site-packages")) + "\n"
    )
    claimed = site / f"{package.replace('-', '_')}-{version}.dist-info"
    claimed.mkdir()
    (claimed / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
    )
    return venv / "bin/python"


@pytest.mark.pipeline
def test_another_environment_is_refused_or_listed_by_the_rule(default_run, tmp_path):
    rows = rows_without_target(tmp_path / "rows.csv")
    older = predict(
        default_run, rows, "--out", str(tmp_path / "x.csv"), "--python", "/usr/bin/python3"
    )
    refused_once(older, "Python 3.11", "3.12.1 recorded", "--environment warn")
    assert not (tmp_path / "x.csv").exists()

    python = _venv_claiming(tmp_path, "scikit-learn", "1.6.0")
    args = [rows, "--out", str(tmp_path / "y.csv"), "--python", str(python)]
    refused_once(predict(default_run, *args), "scikit-learn 1.6.0 here, 1.7.2 recorded")
    assert not (tmp_path / "y.csv").exists()

    warned = predict(default_run, *args, "--environment", "warn")
    assert warned.returncode == 0, warned.stderr
    assert "warning: scikit-learn 1.6.0 here, 1.7.2 recorded" in warned.stderr
    record = json.loads((tmp_path / "y.csv.record.json").read_text())
    assert record["environment"]["differences"] == ["scikit-learn 1.6.0 here, 1.7.2 recorded"]


@pytest.mark.pipeline
def test_bad_rows_are_one_message_naming_the_file_and_the_column(default_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(RAW.read_text().replace("\n17.99,", "\n17.99x,", 1))
    done = predict(default_run, str(rows), "--out", str(tmp_path / "out.csv"))
    refused_once(done, f"{rows}: mean_radius", "line 2", "model_card.json")
    assert not (tmp_path / "out.csv").exists()


def test_the_environment_rule_refuses_versions_and_warns_on_a_patch():
    here = ".".join(sys.version.split()[0].split("."))
    major, minor, patch = here.split(".")
    installed = {"numpy": "2.3.5", "scikit-learn": "1.7.2"}
    assert prediction.environment_differences(here, dict(installed), installed) == ([], [])
    refusals, warnings = prediction.environment_differences(
        f"{major}.{minor}.{int(patch) + 1}", installed | {"scipy": "1.16.3"}, installed
    )
    assert refusals == ["scipy not installed here, 1.16.3 recorded"]
    assert warnings == [f"Python {here} here, {major}.{minor}.{int(patch) + 1} recorded"]
    refusals, _ = prediction.environment_differences(f"{major}.{int(minor) + 1}.0", {}, {})
    assert refusals == [f"Python {here} here, {major}.{int(minor) + 1}.0 recorded"]


@pytest.fixture(scope="module")
def breast_cancer() -> Dataset:
    registry = yaml_registry()
    return resolve(registry, "breast_cancer", "v1.0", "config/datasets.yaml")


def yaml_registry():
    import yaml

    return yaml.safe_load((REPO / "config/datasets.yaml").read_text())


CELL = st.one_of(
    st.sampled_from(["", "NA", "x", "1e400", "-0", "nan", "inf", "0x1p3", " 1", "1,2"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drop=st.sets(st.integers(0, 29), max_size=2),
    extra=st.lists(st.sampled_from(["id", "target", "mean_radius_2"]), max_size=2, unique=True),
    cells=st.dictionaries(st.tuples(st.integers(0, 4), st.integers(0, 29)), CELL, max_size=3),
)
def test_rows_to_predict_are_accepted_whole_or_refused_naming_a_column(
    breast_cancer, drop, extra, cells
):
    """Rows to predict go through preprocess's checks without the target: whatever the
    damage, the rows are read whole, or one ReprotrainError names the rows and a column."""
    table = pd.read_csv(RAW, dtype=str, keep_default_na=False).head(5).drop(columns=["target"])
    for (row, column), value in cells.items():
        table.iloc[row, column] = value
    table = table.drop(columns=[table.columns[i] for i in drop])
    for name in extra:
        table[name] = "1"
    content = table.to_csv(index=False).encode()
    try:
        encoded = data.read_raw_table(
            "rows.csv", breast_cancer, "card.json", content, entry="data.schema", with_target=False
        )
    except ReprotrainError as error:
        assert error.file == "rows.csv"
        assert error.field is None or error.field in {*breast_cancer.schema.features, *extra}
        assert "in card.json" in error.fix
        return
    assert list(encoded.columns) == list(breast_cancer.schema.features)
    assert len(encoded) == 5
    assert not drop and set(extra) <= {"target"}


def test_a_model_is_served_by_the_environment_it_was_trained_in():
    """The training recipe names the lock in force: a LightGBM model of the boosting
    overlay is predicted by envs/boosting's interpreter, a preset by the rule one's."""
    from reprotrain import serving

    boosting = manifest.load(REPO / "config/boosting-manifest.json", "record")
    lightgbm = "results-boosting/runs/breast_cancer/v1.0/seed-42/lightgbm/model.pkl"
    assert serving.model_environment(boosting, lightgbm) == "boosting"
    default = manifest.load(REPO / "config/manifest.json", "record")
    assert serving.model_environment(default, f"{MODEL}/model.pkl") == "base"
