"""sk2tensor: fitted scikit-learn models and pipelines -> portable ONNX graphs of plain tensor operations."""

__version__ = "0.1.0"

from sk2tensor.api import compare, convert
from sk2tensor.errors import (
    ConversionError,
    InputError,
    ModelFileError,
    NotFittedError,
    RuntimeTooOldError,
    RuntimeUnavailableError,
    Sk2TensorError,
    UnsupportedEstimatorError,
    UnsupportedParameterError,
    ValidationError,
)
from sk2tensor.model import CompiledModel, load
from sk2tensor.registry import supported
from sk2tensor.training import fit_stream
from sk2tensor.validate import ValidationReport

__all__ = [
    "CompiledModel",
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
    "ValidationReport",
    "__version__",
    "compare",
    "convert",
    "fit_stream",
    "load",
    "supported",
]
