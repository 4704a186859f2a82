"""The steps that need the ML stack (pandas, scikit-learn), one function per rule.

Rule scripts only pass paths and params in; the record-keeping steps are in records.py.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from reprotrain import fileio, yamlfile
from reprotrain.datasets import Dataset, TableSchema
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import atomic_write_bytes, write_json
from reprotrain.hashing import sha256_bytes
from reprotrain.ml import evaluate, models, tables

log = logging.getLogger(__name__)


def dataset_from_params(params: dict[str, Any]) -> Dataset:
    fields = dict(params)
    fields.pop("rows", None)
    fields["schema"] = TableSchema.from_dict(fields["schema"])
    return Dataset(**fields)


def preprocess(
    raw: str | None,
    dataset: dict[str, Any],
    registry: str,
    test_fraction: float,
    seed: int,
    train: str,
    test: str,
    record: str,
    network: dict[str, Any] | None = None,
) -> None:
    """Verify and parse the raw file (or fetch it, or generate the synthetic table),
    validate, split. ``network``: the download limits (reprotrain.netio.Limits)."""
    from reprotrain import netio
    from reprotrain.ml import data  # the CSV parser only in the one step that reads tables

    rows = dataset.get("rows")
    entry = dataset_from_params(dataset)
    if entry.kind == "file" and entry.is_url:
        assert entry.source is not None
        content = data.fetch_verified(
            entry.source, entry, registry, netio.Limits.from_dict(network)
        )
        raw_sha256 = entry.sha256
        frame = data.read_raw_table(entry.source, entry, registry, content)
        origin = entry.source
    elif entry.kind == "file":
        assert raw  # the plan gives a file dataset of the repository its raw input
        content = data.read_verified(raw, entry, registry)
        raw_sha256 = entry.sha256
        frame = data.read_raw_table(raw, entry, registry, content)
        origin = raw
    else:
        # Generated in this step, not written and read back: the generator's spec is
        # the data version, and the record keeps the sha256 of what it generated.
        assert rows is not None  # the plan refuses a synthetic dataset without rows
        frame, raw_sha256 = data.generate_synthetic(entry, rows)
        origin = f"{registry}: datasets.{entry.name}.{entry.version}"
        frame = data.encode_table(frame, entry, origin, registry)
    train_part, test_part = data.split(frame, entry.schema, test_fraction, seed, origin)
    del frame
    tables.write_table(train_part, train)
    tables.write_table(test_part, test)
    write_json(
        record,
        {
            "name": entry.name,
            "version": entry.version,
            "kind": entry.kind,
            "source": entry.source,
            "sha256": raw_sha256,
            "rows": len(train_part) + len(test_part),
            # The card carries it: predict checks new rows against the schema the model
            # was trained on.
            "schema": asdict(entry.schema),
            "split": {
                "test_fraction": test_fraction,
                "seed": seed,
                "train_rows": len(train_part),
                "test_rows": len(test_part),
            },
        },
    )
    log.info("split into %d train / %d test rows", len(train_part), len(test_part))


def train(
    train_table: str,
    table_schema: dict[str, Any],
    model_type: str,
    params: dict[str, Any],
    preprocessing: dict[str, str] | None,
    seed: int,
    threads: int,
    estimator_out: str,
    summary_out: str,
    seal_out: str,
) -> None:
    """Fit the model and write its canonical pickle, sealed: save publishes only bytes
    this directory's train job wrote (reprotrain.records.signing)."""
    from reprotrain.records import signing

    schema = TableSchema.from_dict(table_schema)
    features, labels = tables.read_table(train_table, schema)
    estimator = models.build_estimator(model_type, params, seed, schema, preprocessing)
    try:
        models.fit(estimator, features, labels, threads)
    except Exception as error:  # a user's or a library's estimator can fail in any way
        log.exception("fit failed")  # the traceback, for the job's log alone
        raise ReprotrainError(
            yamlfile.CONFIG_LABEL,
            f"models.{model_type}",
            f"{type(models.final_step(estimator)).__name__} failed to fit {train_table}: "
            f"{type(error).__name__}: {error}",
            "give it params that suit this table (the job's log has the traceback); an "
            "estimator that takes classes only as 0..K-1 (XGBoost) is wrapped as "
            "`estimator: reprotrain.ml.estimators.LabelEncodedClassifier, params: "
            "{estimator: {estimator: <its class>, params: {...}}}`",
        ) from None
    blob = models.model_bytes(estimator)
    signing.seal(blob, seal_out)
    atomic_write_bytes(estimator_out, blob)
    write_json(
        summary_out,
        {
            "type": model_type,
            "estimator": type(estimator).__name__,
            "hyperparameters": models.hyperparameters(estimator),
            "sha256": sha256_bytes(blob),
        },
    )
    log.info(
        "trained %s on %d rows with %d thread(s)", type(estimator).__name__, len(labels), threads
    )


def _read_card(card: str) -> dict[str, Any]:
    """The model card save wrote, refused (never half-used) when it is not one."""
    fix = "delete it and the model beside it, and rerun: save makes both again"
    document = fileio.read_json(card, what="model card", fix=fix)
    try:
        fields = {
            "model.sha256": document["model"]["sha256"],
            "model.type": document["model"]["type"],
            "model.random_state": document["model"]["random_state"],
            "data.name": document["data"]["name"],
            "data.version": document["data"]["version"],
        }
    except (KeyError, TypeError) as error:
        raise ReprotrainError(card, None, f"is not a model card (no {error})", fix) from None
    if not isinstance(fields["model.sha256"], str):
        raise ReprotrainError(card, "model.sha256", "is not a sha256 digest", fix)
    return document


def validate(
    model: str,
    card: str,
    seal_path: str,
    verdict_path: str,
    test_table: str,
    table_schema: dict[str, Any],
    thresholds: dict[str, float],
    threshold_fields: dict[str, str],
    threads: int,
    out: str,
    figure_outs: tuple[str, str],
) -> None:
    """Score the model on the test split and draw its two figures: the ROC curve and the
    confusion matrix of a classifier, predicted-vs-true and the residuals of a regressor."""
    from reprotrain.ml import figures  # matplotlib only where the figures are drawn

    fileio.remove(verdict_path)  # a miss of an earlier run of this job no longer holds
    model_card = _read_card(card)
    # This directory's save sealed the bytes; a model the record vouches for whose seal is
    # gone was sealed again by the driver (reprotrain.driver.start.reseal_recorded_models).
    # A model and a card that someone rewrote together in results/ carry no seal.
    estimator = models.load_verified(model, model_card["model"]["sha256"], card, None, seal_path)
    schema = TableSchema.from_dict(table_schema)
    features, labels = tables.read_table(test_table, schema)
    predicted = models.predict(estimator, features, threads, schema.is_classification)
    title = (
        f"{model_card['model']['type']}, {model_card['data']['name']} "
        f"{model_card['data']['version']}, seed {model_card['model']['random_state']}"
    )
    first, second = figure_outs
    if schema.is_classification:
        metrics = evaluate.classification_metrics(
            labels.to_numpy(), predicted, estimator.classes_, schema.task
        )
        figures.roc_curve(labels, predicted, metrics["classes"], title, first)
        figures.confusion_matrix(metrics["confusion_matrix"], metrics["classes"], title, second)
    else:
        metrics = evaluate.regression_metrics(labels.to_numpy(), predicted)
        for kind, figure_out in zip(figures.REGRESSION_FIGURES, figure_outs, strict=True):
            figures.prediction_errors(
                labels,
                predicted,
                kind,
                title,
                figure_out,
                f"R² {metrics['r2']:.4f}\nRMSE {metrics['rmse']:.4f}",
            )
    data, trained = model_card["data"], model_card["model"]
    run = f"{data['name']} {data['version']}, seed {trained['random_state']}, {trained['type']}"
    misses = evaluate.threshold_misses(metrics, thresholds, threshold_fields)
    if misses:  # for the end of the run's list of every model run's verdict
        write_json(verdict_path, {"run": run, "misses": [text for _, text in misses]})
    evaluate.check_thresholds(metrics, thresholds, threshold_fields, run, data["name"])
    write_json(out, metrics)
    log.info("metrics: %s", {k: v for k, v in metrics.items() if isinstance(v, float)})
