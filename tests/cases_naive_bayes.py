"""Conformance cases for naive Bayes classifiers."""

from __future__ import annotations

from sklearn.naive_bayes import BernoulliNB, CategoricalNB, ComplementNB, GaussianNB, MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer

from tests.cases import Case, _cases

CASES: list[Case] = [
    *_cases(GaussianNB, "iris", "wine", "breast_cancer", "random_multiclass", "string_labels", "shifted_labels"),
    *_cases(lambda: GaussianNB(var_smoothing=1e-12), "digits", name="GaussianNB_tiny_smoothing"),
    *_cases(lambda: GaussianNB(priors=[0.2, 0.3, 0.5]), "iris", name="GaussianNB_priors"),
    *_cases(MultinomialNB, "digits", "iris", "bool_labels", "string_labels"),
    *_cases(lambda: MultinomialNB(alpha=0.1, fit_prior=False), "wine", name="MultinomialNB_uniform_prior"),
    *_cases(ComplementNB, "digits", "breast_cancer", "shifted_labels"),
    *_cases(lambda: ComplementNB(norm=True), "digits", name="ComplementNB_norm"),
    *_cases(BernoulliNB, "random_binary", "random_multiclass", "string_labels"),
    *_cases(lambda: BernoulliNB(binarize=7.5, alpha=0.5), "digits", name="BernoulliNB_threshold"),
    *_cases(
        lambda: make_pipeline(Binarizer(threshold=4.0), BernoulliNB(binarize=None)),
        "digits",
        name="BernoulliNB_prebinarized",
    ),
    *_cases(CategoricalNB, "digits", "iris", "string_labels"),
    *_cases(lambda: CategoricalNB(min_categories=20, alpha=0.3), "digits", name="CategoricalNB_min_categories"),
]
