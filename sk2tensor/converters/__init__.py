"""Converter modules, one per estimator family, named after the sklearn module that holds the estimators.

Importing this package imports every module in it, which registers their converters: adding a family is
adding a module here, nothing else.
"""

import importlib
import pkgutil

__all__ = []
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
        __all__.append(_module.name)
