"""Converters for estimators of optional libraries (LightGBM, XGBoost).

These modules import their library, so they are not imported with the other converters: the registry
imports one when it is given an estimator from that library (see ``registry.OPTIONAL_CONVERTERS``).
"""
