"""Converter modules, one per estimator family, named after the sklearn module that holds the estimators.

Importing this package registers every converter.
"""

from sk2tensor.converters import linear_model, pipeline, preprocessing

__all__ = ["linear_model", "pipeline", "preprocessing"]
