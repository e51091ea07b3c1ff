"""Converter modules, one per estimator family, named after the sklearn module that holds the estimators.

Importing this package registers every converter.
"""

from sk2tensor.converters import ensemble, linear_model, pipeline, preprocessing, tree

__all__ = ["ensemble", "linear_model", "pipeline", "preprocessing", "tree"]
