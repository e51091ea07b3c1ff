"""The sk2tensor error family; every message names what was wrong and what is accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklearn.exceptions import NotFittedError

if TYPE_CHECKING:
    from sk2tensor.validate import ValidationReport

__all__ = [
    "ConversionError",
    "InputError",
    "ModelFileError",
    "NotFittedError",
    "RuntimeTooOldError",
    "RuntimeUnavailableError",
    "Sk2TensorError",
    "UnsupportedEstimatorError",
    "UnsupportedParameterError",
    "ValidationError",
]


class Sk2TensorError(Exception):
    """Base class of every error sk2tensor raises on purpose."""


class UnsupportedEstimatorError(Sk2TensorError, TypeError):
    """The estimator's class has no converter."""


class UnsupportedParameterError(Sk2TensorError, ValueError):
    """The estimator's class converts, but not with this fitted setting or option value."""


class ConversionError(Sk2TensorError):
    """The converter could not build a graph for a fitted estimator (an inconsistent model)."""


class InputError(Sk2TensorError, ValueError):
    """Prediction or validation input of the wrong shape, width or dtype."""


class ModelFileError(Sk2TensorError):
    """A model or data file that cannot be read, or that is refused for safety."""


class RuntimeUnavailableError(Sk2TensorError, ImportError):
    """ONNX Runtime (or the requested execution provider) is not installed."""


class RuntimeTooOldError(Sk2TensorError):
    """The installed ONNX Runtime cannot load the graph: its IR version or opset is newer than the runtime
    reads, or an operator has no kernel for its types there."""


class ValidationError(Sk2TensorError):
    """The exported graph disagrees with the sklearn estimator beyond the stated tolerance."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report
