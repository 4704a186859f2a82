"""The floor: the pipeline's computation in one plain Python process.

It calls the same functions with the same parameters as the rules (reprotrain's step
functions, so the two cannot drift apart) and writes the same artifacts: the split
tables, model.pkl, metrics.json and the two figures. It leaves out everything that is
there for reproducibility or orchestration: Snakemake, one process per step, reading
intermediates back, hashing, model cards, manifests, the environment fingerprint and the
drift check, and the sweep summary.

    python benchmarks/baseline.py --rows 1000000 --out /tmp/baseline
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reprotrain.datasets import load_yaml, resolve
from reprotrain.ml import data, evaluate, figures, models, tables


def run(config: dict, rows: int, out: Path) -> dict:
    registry = load_yaml(config["registry"], "dataset registry")
    dataset = resolve(registry, "synthetic", "v1", config["registry"])
    model_type, seed = config["model"], config["seed"]
    out.mkdir(parents=True, exist_ok=True)

    frame, _ = data.generate_synthetic(dataset, rows)
    frame = data.encode_table(frame, dataset, "synthetic v1", config["registry"])
    schema, target = dataset.schema, dataset.schema.target
    train, test = data.split(frame, schema, config["split"]["test_fraction"], seed, "synthetic v1")
    del frame
    tables.write_table(train, out / "train.npy")
    tables.write_table(test, out / "test.npy")

    estimator = models.build_estimator(model_type, config["models"][model_type], seed, schema)
    models.fit(estimator, train.drop(columns=[target]), train[target], config["threads"])
    (out / "model.pkl").write_bytes(models.model_bytes(estimator))

    labels = test[target]
    features = test.drop(columns=[target])
    probabilities = models.predict(estimator, features, config["threads"], classification=True)
    metrics = evaluate.classification_metrics(
        labels.to_numpy(), probabilities, estimator.classes_, schema.task
    )
    title = f"{model_type}, synthetic v1, seed {seed}"
    figures.roc_curve(labels, probabilities, metrics["classes"], title, str(out / "roc.svg"))
    figures.confusion_matrix(
        metrics["confusion_matrix"], metrics["classes"], title, str(out / "confusion.svg")
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default="config/config.yaml")
    arguments = parser.parse_args()
    run(load_yaml(arguments.config, "config"), arguments.rows, arguments.out)


if __name__ == "__main__":
    main()
