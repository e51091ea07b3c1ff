"""``sklearn.gaussian_process``: the predictive mean of GaussianProcessRegressor, and GaussianProcessClassifier's
``predict`` and ``predict_proba`` (Laplace approximation), with the fitted kernel ``kernel_`` built in the graph.

Kernels. The fitted ``kernel_`` is a tree of :mod:`sklearn.gaussian_process.kernels` objects; each node becomes
graph operations that follow its ``__call__(X, Y)`` (and, for the classifier's variance, its ``diag(X)``)
operation for operation, in float64: ``RBF`` (isotropic or anisotropic), ``Matern`` with ``nu`` 0.5, 1.5, 2.5 or
inf (other values need Bessel functions and are refused), ``RationalQuadratic``, ``ExpSineSquared``,
``DotProduct``, ``ConstantKernel``, ``WhiteKernel`` (zero between the input rows and the training rows, which is
what ``predict`` evaluates), and ``Sum``, ``Product`` and ``Exponentiation`` of those. Distances are scipy's
``cdist``: per pair the sum over features of squared differences, on ``[batch, n_train, n_features]``
differences; the rows of one run are bounded so those intermediates stay within
:data:`~sk2tensor.converters._pairwise.RUN_MEMORY_BYTES` (metadata ``max_chunk_rows``), and training sets above
:data:`~sk2tensor.converters._pairwise.MAX_STORED_VALUES` values are refused.

Only the predictive mean is exported for the regressor (``return_std`` and ``return_cov`` are options of
``predict``, not methods). The classifier's probabilities use sklearn's approximation of the logistic-Gaussian
integral by five error functions; ``erf`` has no CUDA-friendly ONNX form in float64 here, so the graph evaluates
Cephes' rational approximations of it (about one ulp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process._gpc import COEFS, LAMBDAS
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    Exponentiation,
    ExpSineSquared,
    Kernel,
    Matern,
    Product,
    RationalQuadratic,
    Sum,
    WhiteKernel,
)

from sk2tensor.converters._pairwise import as_f64, bound_run_memory, check_stored, einsum_row_squared_norms, f64
from sk2tensor.converters.heads import squeeze_single
from sk2tensor.converters.multiclass import ovr_decision_function
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported

F64 = np.dtype(np.float64)
#: The kernels of ``kernel_`` the graph builds, for messages.
SUPPORTED_KERNELS = (
    "RBF, Matern (nu 0.5, 1.5, 2.5, inf), RationalQuadratic, ExpSineSquared, DotProduct, ConstantKernel, "
    "WhiteKernel, and Sum, Product and Exponentiation of them"
)
_MATERN_NU = (0.5, 1.5, 2.5, np.inf)


# --------------------------------------------------------------------------- erf
# Cephes' ndtr.c (S. L. Moshier): erf(x) = x T(x^2) / U(x^2) for |x| <= 1, else 1 - erfc(x) with
# erfc(x) = exp(-x^2) P(|x|) / Q(|x|) for |x| < 8 and exp(-x^2) R(|x|) / S(|x|) above. Highest degree first;
# U, Q and S have a leading coefficient 1.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3, 7.00332514112805075473e3,
          5.55923013010394962768e4)  # fmt: skip
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)  # fmt: skip
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)  # fmt: skip
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)  # fmt: skip
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)  # fmt: skip
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)  # fmt: skip


def _polevl(graph: GraphBuilder, x: Var, coefficients: tuple[float, ...]) -> Var:
    """Horner's scheme, highest degree first (Cephes' ``polevl``; ``p1evl`` when the first coefficient is 1)."""
    if coefficients[0] == 1.0:
        value = graph.add(x, f64(graph, coefficients[1], "coef"))
        rest = coefficients[2:]
    else:
        value, rest = f64(graph, coefficients[0], "coef"), coefficients[1:]
    for c in rest:
        value = graph.add(graph.mul(value, x), f64(graph, c, "coef"))
    return value


def erf(graph: GraphBuilder, x: Var) -> Var:
    """The error function of a float64 ``x``, elementwise (Cephes; within a few ulps of ``scipy.special.erf``).

    Both branches are evaluated everywhere on clamped arguments and one is selected, so no branch sees an
    argument it would overflow on; NaN gives NaN."""
    one = f64(graph, 1.0, "one")
    ax = graph.abs(x)
    small = graph.less_equal(ax, one)
    # |x| <= 1
    xs = graph.min(graph.max(x, f64(graph, -1.0, "minus_one")), one)
    z = graph.mul(xs, xs)
    inner = graph.div(graph.mul(xs, _polevl(graph, z, _ERF_T)), _polevl(graph, z, _ERF_U))
    # |x| > 1: 1 - erfc(|x|), with the sign of x; erfc underflows to 0 beyond |x| ~ 26.6, as in Cephes.
    a = graph.min(graph.max(ax, one), f64(graph, 30.0, "erfc_limit"))
    e = graph.exp(graph.neg(graph.mul(a, a)))
    near = graph.div(graph.mul(e, _polevl(graph, a, _ERFC_P)), _polevl(graph, a, _ERFC_Q))
    far = graph.div(graph.mul(e, _polevl(graph, a, _ERFC_R)), _polevl(graph, a, _ERFC_S))
    erfc = graph.where(graph.less(a, f64(graph, 8.0, "eight")), near, far)
    outer = graph.sub(one, erfc)
    outer = graph.where(graph.less(x, f64(graph, 0.0, "zero")), graph.neg(outer), outer)
    result = graph.where(small, inner, outer)
    return graph.where(graph.is_nan(x), x, result)


# --------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class _Value:
    """A kernel value in the graph: a float64 constant (``var is None``) or a tensor."""

    var: Var | None = None
    constant: float = 0.0


def _numpy_power(graph: GraphBuilder, base: Var, exponent: float) -> Var:
    """``base ** exponent`` as numpy computes it on an array: its fast paths for 2, 0.5, 1 and -1, else pow."""
    dtype = base.dtype
    if exponent == 2.0:
        return graph.mul(base, base)
    if exponent == 0.5:
        return graph.sqrt(base)
    if exponent == 1.0:
        return base
    if exponent == -1.0:
        return graph.div(graph.const(1.0, "one", dtype=dtype), base)
    return graph.pow(base, graph.const(float(exponent), "exponent", dtype=dtype))


class _KernelBuilder:
    """Builds ``kernel(X, X_train)`` (``[batch, n_train]``) and ``kernel.diag(X)`` (``[batch, 1]``) of a fitted
    sklearn kernel tree for the graph input ``x``; shared distance tensors are built once."""

    def __init__(self, graph: GraphBuilder, estimator: object, x: Var, train: np.ndarray) -> None:
        self.graph, self.estimator, self.x, self.train = graph, estimator, x, train
        self.x64 = as_f64(graph, x)
        self._squared: dict[bytes, Var] = {}

    # ----------------------------------------------------------- distances (scipy's cdist)
    def squared_distances(self, length_scale: np.ndarray | None) -> Var:
        """``cdist(X / l, X_train / l, "sqeuclidean")`` (unscaled when ``length_scale`` is None)."""
        key = b"none" if length_scale is None else length_scale.tobytes() + bytes(length_scale.ndim)
        if key not in self._squared:
            graph = self.graph
            x, train = self.x64, self.train
            if length_scale is not None:
                x = graph.div(x, f64(graph, length_scale, "length_scale"))
                train = train / length_scale
            diff = graph.sub(graph.unsqueeze(x, [1]), f64(graph, train[None, :, :], "train_rows"))
            self._squared[key] = graph.reduce_sum(graph.mul(diff, diff), [2])
        return self._squared[key]

    def distances(self, length_scale: np.ndarray | None) -> Var:
        """``cdist(..., "euclidean")``: the square root of :meth:`squared_distances`."""
        return self.graph.sqrt(self.squared_distances(length_scale))

    def _length_scale(self, kernel: Kernel) -> np.ndarray:
        length_scale = np.squeeze(kernel.length_scale).astype(float)
        if length_scale.ndim == 1 and length_scale.shape[0] != self.train.shape[1]:
            raise unsupported(self.estimator, "kernel_", kernel, f"the length scale needs {self.train.shape[1]} values")
        return length_scale

    # ----------------------------------------------------------- k(X, X_train)
    def cross(self, kernel: Kernel) -> _Value:
        graph = self.graph
        if isinstance(kernel, Sum | Product):
            a, b = self.cross(kernel.k1), self.cross(kernel.k2)
            if a.var is None and b.var is None:
                value = a.constant + b.constant if isinstance(kernel, Sum) else a.constant * b.constant
                return _Value(constant=float(value))
            left = a.var if a.var is not None else f64(graph, a.constant, "kernel_constant")
            right = b.var if b.var is not None else f64(graph, b.constant, "kernel_constant")
            return _Value(graph.add(left, right) if isinstance(kernel, Sum) else graph.mul(left, right))
        if isinstance(kernel, Exponentiation):
            base = self.cross(kernel.kernel)
            if base.var is None:
                return _Value(constant=float(np.power(np.array(base.constant), kernel.exponent)))
            return _Value(_numpy_power(graph, base.var, kernel.exponent))
        if isinstance(kernel, ConstantKernel):
            return _Value(constant=float(kernel.constant_value))
        if isinstance(kernel, WhiteKernel):
            return _Value(constant=0.0)
        if isinstance(kernel, Matern):  # before RBF: Matern subclasses it
            return _Value(self._matern(kernel))
        if isinstance(kernel, RBF):
            d = self.squared_distances(self._length_scale(kernel))
            return _Value(graph.exp(graph.mul(f64(graph, -0.5, "minus_half"), d)))
        if isinstance(kernel, RationalQuadratic):
            if np.ndim(kernel.length_scale) != 0:
                raise unsupported(self.estimator, "kernel_", kernel, "RationalQuadratic is isotropic only")
            scale = 2 * kernel.alpha * kernel.length_scale**2
            base = graph.add(
                f64(graph, 1.0, "one"), graph.div(self.squared_distances(None), f64(graph, scale, "rq_scale"))
            )
            return _Value(_numpy_power(graph, base, -kernel.alpha))
        if isinstance(kernel, ExpSineSquared):
            angle = graph.mul(f64(graph, np.pi / kernel.periodicity, "pi_over_period"), self.distances(None))
            ratio = graph.div(graph.unary("Sin", angle), f64(graph, kernel.length_scale, "length_scale"))
            return _Value(graph.exp(graph.mul(f64(graph, -2.0, "minus_two"), graph.mul(ratio, ratio))))
        if isinstance(kernel, DotProduct):
            inner = graph.matmul(self.x64, f64(graph, self.train.T, "train_rows_t"))
            return _Value(graph.add(inner, f64(graph, kernel.sigma_0**2, "sigma_0_squared")))
        raise self.refuse(kernel)

    def _matern(self, kernel: Matern) -> Var:
        graph = self.graph
        nu = kernel.nu
        if nu not in _MATERN_NU:
            raise unsupported(
                self.estimator,
                "kernel_",
                kernel,
                "Matern is converted for nu 0.5, 1.5, 2.5 and inf (other values need Bessel functions)",
            )
        d = self.distances(self._length_scale(kernel))
        if nu == 0.5:
            return graph.exp(graph.neg(d))
        if nu == np.inf:
            return graph.exp(graph.div(graph.neg(graph.mul(d, d)), f64(graph, 2.0, "two")))
        k = graph.mul(d, f64(graph, math.sqrt(3) if nu == 1.5 else math.sqrt(5), "sqrt_nu"))
        one = f64(graph, 1.0, "one")
        if nu == 1.5:
            factor = graph.add(one, k)
        else:
            factor = graph.add(graph.add(one, k), graph.div(graph.mul(k, k), f64(graph, 3.0, "three")))
        return graph.mul(factor, graph.exp(graph.neg(k)))

    # ----------------------------------------------------------- k.diag(X)
    def diag(self, kernel: Kernel) -> _Value:
        """``kernel.diag(X)`` as ``[batch, 1]``, in numpy's dtype: float64 except a DotProduct's on a float32
        input, which numpy sums in float32 (and adds ``sigma_0 ** 2`` in float32 when that is a Python float)."""
        graph = self.graph
        if isinstance(kernel, Sum | Product):
            a, b = self.diag(kernel.k1), self.diag(kernel.k2)
            if a.var is None and b.var is None:
                value = a.constant + b.constant if isinstance(kernel, Sum) else a.constant * b.constant
                return _Value(constant=float(value))
            left = as_f64(graph, a.var) if a.var is not None else f64(graph, a.constant, "kernel_constant")
            right = as_f64(graph, b.var) if b.var is not None else f64(graph, b.constant, "kernel_constant")
            if a.var is not None and b.var is not None and a.var.dtype == b.var.dtype:
                left, right = a.var, b.var  # two float32 diagonals combine in float32
            return _Value(graph.add(left, right) if isinstance(kernel, Sum) else graph.mul(left, right))
        if isinstance(kernel, Exponentiation):
            base = self.diag(kernel.kernel)
            if base.var is None:
                return _Value(constant=float(np.power(np.array(base.constant), kernel.exponent)))
            return _Value(_numpy_power(graph, base.var, kernel.exponent))
        if isinstance(kernel, ConstantKernel):
            return _Value(constant=float(kernel.constant_value))
        if isinstance(kernel, WhiteKernel):
            return _Value(constant=float(kernel.noise_level))
        if isinstance(kernel, RBF | RationalQuadratic | ExpSineSquared):  # normalised: ones (Matern is an RBF)
            if isinstance(kernel, Matern) and kernel.nu not in _MATERN_NU:
                self.cross(kernel)  # the same refusal as the cross kernel
            return _Value(constant=1.0)
        if isinstance(kernel, DotProduct):
            sigma2 = kernel.sigma_0**2
            if self.x.dtype == F64:
                norms = graph.reduce_sum(graph.mul(self.x, self.x), [1], keepdims=True)
                return _Value(graph.add(norms, f64(graph, sigma2, "sigma_0_squared")))
            norms = einsum_row_squared_norms(graph, self.x, self.train.shape[1])
            if isinstance(sigma2, float) and not isinstance(sigma2, np.generic):  # weak: stays float32
                return _Value(graph.add(norms, graph.const(sigma2, "sigma_0_squared", dtype=np.float32)))
            return _Value(graph.add(as_f64(graph, norms), f64(graph, sigma2, "sigma_0_squared")))
        raise self.refuse(kernel)

    def refuse(self, kernel: Kernel) -> UnsupportedParameterError:
        return unsupported(self.estimator, "kernel_", kernel, f"sk2tensor builds {SUPPORTED_KERNELS}")

    def matrix(self, kernel: Kernel) -> Var:
        """``kernel(X, X_train)`` as a ``[batch, n_train]`` float64 tensor (a constant kernel is broadcast)."""
        value = self.cross(kernel)
        if value.var is not None:
            return value.var
        graph = self.graph
        first = graph.gather(self.x64, graph.int64s([0], "first_column"), axis=1)
        row = f64(graph, np.full((1, len(self.train)), value.constant), "constant_kernel")
        return graph.where(graph.is_nan(first), row, row)


def _bound_memory(estimator: object, context: ConversionContext, train: np.ndarray) -> None:
    """The kernel-model memory rule (as :func:`~sk2tensor.converters._pairwise.bound_kernel_memory` for the
    broadcast kernels): ``[batch, n_train, n_features]`` differences."""
    check_stored(estimator, train)
    rows, features = train.shape
    bound_run_memory(context, 4 * 8 * rows * features)


def _training_rows(estimator: object, train: object) -> np.ndarray:
    rows = np.asarray(train)
    if rows.ndim != 2 or rows.dtype.kind not in "fiub":
        raise unsupported(estimator, "X_train_", type(train).__name__, "numeric training rows are supported")
    return rows.astype(np.float64)


# --------------------------------------------------------------------------- regressor
@converter(GaussianProcessRegressor)
def convert_gaussian_process_regressor(
    graph: GraphBuilder, estimator: GaussianProcessRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: ``kernel_(X, X_train_) @ alpha_``, then ``_y_train_std * mean + _y_train_mean`` (identity
    when ``normalize_y`` is off); ``[batch]`` for one target, ``[batch, n_targets]`` for several."""
    train = _training_rows(estimator, estimator.X_train_)
    _bound_memory(estimator, context, train)
    k = _KernelBuilder(graph, estimator, x, train).matrix(estimator.kernel_)
    alpha = np.asarray(estimator.alpha_, dtype=np.float64)
    mean = graph.matmul(k, f64(graph, alpha, "alpha"))
    std = np.asarray(estimator._y_train_std, dtype=np.float64)
    offset = np.asarray(estimator._y_train_mean, dtype=np.float64)
    mean = graph.add(graph.mul(f64(graph, std, "y_train_std"), mean), f64(graph, offset, "y_train_mean"))
    width = 1 if alpha.ndim == 1 else alpha.shape[1]
    return {"predict": squeeze_single(graph, mean, width) if alpha.ndim == 2 else mean}


# --------------------------------------------------------------------------- classifier
def _latent(graph: GraphBuilder, binary: object, x: Var, owner: object) -> tuple[Var, Var]:
    """``latent_mean_and_variance``: ``f* = K(X_train, X).T @ (y_train_ - pi_)`` and
    ``var = diag(X) - sum(v * v)`` with ``v = L^-1 (W_sr K(X_train, X))``, both ``[batch, 1]`` float64.

    ``v.T`` is ``K(X, X_train) @ (W_sr[:, None] * inv(L).T)``; ``L`` is the Cholesky factor of
    ``I + W_sr K W_sr`` (eigenvalues at least one), so its inverse is well conditioned.
    """
    train = _training_rows(owner, binary.X_train_)
    builder = _KernelBuilder(graph, owner, x, train)
    k = builder.matrix(binary.kernel_)
    weights = np.asarray(binary.y_train_, dtype=np.float64) - np.asarray(binary.pi_, dtype=np.float64)
    f_star = graph.matmul(k, f64(graph, weights[:, None], "y_minus_pi"))
    lower = np.asarray(binary.L_, dtype=np.float64)
    inverse = scipy.linalg.solve_triangular(lower, np.eye(len(lower)), lower=True)
    v_t = graph.matmul(k, f64(graph, np.asarray(binary.W_sr_)[:, None] * inverse.T, "w_sr_inv_l_t"))
    diag = builder.diag(binary.kernel_)
    diag = as_f64(graph, diag.var) if diag.var is not None else f64(graph, diag.constant, "kernel_diag")
    var = graph.sub(diag, graph.reduce_sum(graph.mul(v_t, v_t), [1], keepdims=True))
    return f_star, var


def _binary_positive(graph: GraphBuilder, binary: object, x: Var, owner: object) -> tuple[Var, Var]:
    """``(f* [batch], P(class 1) [batch])`` of one ``_BinaryGaussianProcessClassifierLaplace``, computed as its
    ``predict_proba``: the five-erf approximation with the five terms added in numpy's order."""
    f_star, var = _latent(graph, binary, x, owner)
    lambdas = LAMBDAS.reshape(1, -1)
    alpha = graph.div(f64(graph, 1.0, "one"), graph.mul(f64(graph, 2.0, "two"), var))
    gamma = graph.mul(f64(graph, lambdas, "lambdas"), f_star)
    ratio = graph.sqrt(graph.div(alpha, graph.add(alpha, f64(graph, lambdas**2, "lambdas_squared"))))
    integrals = graph.div(
        graph.mul(graph.sqrt(graph.div(f64(graph, np.pi, "pi"), alpha)), erf(graph, graph.mul(gamma, ratio))),
        graph.mul(
            f64(graph, 2.0, "two"),
            graph.sqrt(graph.mul(graph.mul(var, f64(graph, 2.0, "two")), f64(graph, np.pi, "pi"))),
        ),
    )
    terms = graph.mul(f64(graph, COEFS.reshape(1, -1), "coefs"), integrals)
    columns = [graph.gather(terms, graph.const(np.int64(i), "term", dtype=np.int64), axis=1) for i in range(len(COEFS))]
    total = columns[0]
    for column in columns[1:]:
        total = graph.add(total, column)
    positive = graph.add(total, f64(graph, 0.5 * COEFS.sum(), "half_coef_sum"))
    return graph.squeeze(f_star, [1]), positive


def _binary_estimators(estimator: GaussianProcessClassifier) -> list[object]:
    base = estimator.base_estimator_
    return [base] if estimator.n_classes_ == 2 else list(base.estimators_)


@converter(GaussianProcessClassifier)
def convert_gaussian_process_classifier(
    graph: GraphBuilder, estimator: GaussianProcessClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Binary: ``predict`` is ``f* > 0`` and ``predict_proba`` sklearn's Laplace approximation. Multi-class
    one_vs_rest: each class's positive probability, the first highest wins and the rows are normalised (as
    ``OneVsRestClassifier``); one_vs_one: ``OneVsOneClassifier``'s votes (``f* > 0``) with the positive
    probabilities breaking ties, and no ``predict_proba`` (sklearn has none)."""
    classes = np.asarray(estimator.classes_)
    binaries = _binary_estimators(estimator)
    for binary in binaries:
        _bound_memory(estimator, context, _training_rows(estimator, binary.X_train_))
    latents = [_binary_positive(graph, binary, x, estimator) for binary in binaries]
    if len(binaries) == 1:
        f_star, positive = latents[0]
        index = graph.cast(graph.greater(f_star, f64(graph, 0.0, "zero")), np.int64)
        proba = graph.concat(
            [graph.unsqueeze(graph.sub(f64(graph, 1.0, "one"), positive), [1]), graph.unsqueeze(positive, [1])],
            axis=1,
        )
        return {"predict": class_output(graph, classes, index), "predict_proba": proba}
    positives = graph.concat([graph.unsqueeze(p, [1]) for _, p in latents], axis=1)
    if estimator.multi_class == "one_vs_one":
        to_second = graph.concat(
            [graph.unsqueeze(graph.greater(f, f64(graph, 0.0, "zero")), [1]) for f, _ in latents], axis=1
        )
        decision = ovr_decision_function(graph, to_second, positives, len(classes))
        return {"predict": class_output(graph, classes, graph.argmax(decision, axis=1))}
    total = graph.reduce_sum(positives, [1], keepdims=True)
    nonzero = graph.logical_not(graph.equal(total, f64(graph, 0.0, "zero")))
    proba = graph.where(nonzero, graph.div(positives, total), positives)
    return {"predict": class_output(graph, classes, graph.argmax(positives, axis=1)), "predict_proba": proba}
