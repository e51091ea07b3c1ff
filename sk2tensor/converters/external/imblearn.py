"""imbalanced-learn models (``imblearn``).

Resampling changes the rows a model is fitted on, never how it predicts, so each converts as the scikit-learn
model it extends:

* ``imblearn.pipeline.Pipeline``: a Pipeline whose resampling steps (those with ``fit_resample``: SMOTE,
  RandomUnderSampler, FunctionSampler...) act in ``fit`` only; imblearn skips them in ``predict``,
  ``transform`` and the other methods, and so does the export;
* ``BalancedRandomForestClassifier``: a RandomForestClassifier whose trees were grown on resampled rows;
* ``RUSBoostClassifier``: an AdaBoostClassifier (SAMME) whose trees were grown on undersampled rows;
* ``BalancedBaggingClassifier``, ``EasyEnsembleClassifier``: BaggingClassifiers whose members are imblearn
  Pipelines (a sampler, then the classifier; EasyEnsemble's classifier is AdaBoost).
"""

from __future__ import annotations

from typing import Any

from imblearn.ensemble import (
    BalancedBaggingClassifier,
    BalancedRandomForestClassifier,
    EasyEnsembleClassifier,
    RUSBoostClassifier,
)
from imblearn.pipeline import Pipeline

from sk2tensor.converters.ensemble import convert_adaboost_classifier, convert_forest_classifier
from sk2tensor.converters.meta_ensembles import convert_bagging_classifier
from sk2tensor.converters.pipeline import active_steps, chain_steps
from sk2tensor.graph import GraphBuilder, SparseRows, Table, Var
from sk2tensor.registry import ConversionContext, converter, unsupported

converter(BalancedRandomForestClassifier)(convert_forest_classifier)
converter(RUSBoostClassifier)(convert_adaboost_classifier)
converter(BalancedBaggingClassifier, EasyEnsembleClassifier)(convert_bagging_classifier)


def is_sampler(step: Any) -> bool:
    """Whether ``step`` resamples (imblearn's own test: it has ``fit_resample``)."""
    return hasattr(step, "fit_resample")


@converter(Pipeline, tables=True, sparse=True)
def convert_imblearn_pipeline(
    graph: GraphBuilder, estimator: Pipeline, x: Var | Table | SparseRows, context: ConversionContext
) -> dict[str, Var | Table | SparseRows]:
    """The steps that are not samplers, chained as in a scikit-learn Pipeline."""
    name, last = estimator.steps[-1]
    if is_sampler(last):
        raise unsupported(
            estimator,
            f"steps[{name!r}]",
            type(last).__name__,
            "the last step must predict or transform: a sampler only resamples the training rows, so a pipeline "
            "that ends with one has no prediction method to export",
        )
    steps = [(name, step) for name, step in active_steps(estimator) if not is_sampler(step)]
    return chain_steps(graph, estimator, steps, x, context)
