"""Estimators reprotrain ships for a config to name by import path.

Pickled inside a model that uses them: loading such a model needs reprotrain on the
module path (as a class of `user/` needs that directory).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.preprocessing import LabelEncoder


class LabelEncodedClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """A classifier trained on the classes encoded as 0..K-1 (in sorted order, as every
    scikit-learn classifier orders `classes_`), predicting the original classes.

    For an estimator that accepts only integer-encoded classes (XGBoost's XGBClassifier
    refuses the penguins table's species names):

        estimator: reprotrain.ml.estimators.LabelEncodedClassifier
        params: {estimator: {estimator: xgboost.XGBClassifier, params: {...}}}
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.encoder_.transform(y), **fit_params)
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> Any:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
