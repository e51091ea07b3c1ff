"""feature_engine transformers against their own ``transform``: encoders (unseen categories, missing values),
imputers, outlier cappers (values on the caps), transformations, discretisers (values on the bin edges and
outside them), created features, selectors, scalers and the sklearn wrapper, alone and in pipelines before
sklearn models; one row, an empty batch; refusals.

Tolerances: float64 exports within 1e-12 of the value's scale for arithmetic (the graph's float64 operators
and numpy's may round the last bit differently; the encoders' and discretisers' outputs are table look-ups
and bin counts, and are equal), float32 exports within `convert`'s 1e-6 of the scale (`sk2tensor.validate`),
as the graph rounds the float64 result once to float32 where feature_engine computes some functions in
float32.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

import sk2tensor
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.validate import SCALED_TOL
from tests.test_conformance import assert_matches_sklearn
from tests.test_portability import assert_portable

pd = pytest.importorskip("pandas")
pytest.importorskip("feature_engine")

import feature_engine.creation as creation  # noqa: E402
import feature_engine.discretisation as discretisation  # noqa: E402
import feature_engine.encoding as encoding  # noqa: E402
import feature_engine.imputation as imputation  # noqa: E402
import feature_engine.outliers as outliers  # noqa: E402
import feature_engine.preprocessing as preprocessing  # noqa: E402
import feature_engine.scaling as scaling  # noqa: E402
import feature_engine.selection as selection  # noqa: E402
import feature_engine.transformation as transformation  # noqa: E402
from feature_engine.wrappers import SklearnTransformerWrapper  # noqa: E402

TOLERANCE = {"float64": 1e-12, "float32": SCALED_TOL["float32"]}


def _frame(n: int = 400, seed: int = 0, missing: bool = False):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.gamma(2.0, size=n) + 0.01,
            "u": rng.uniform(0.01, 0.99, n),
            "c": rng.choice(["x", "y", "z", "w"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object),
            "d": rng.choice(["p", "q"], n).astype(object),
        }
    )
    if missing:
        frame.loc[rng.random(n) < 0.1, "a"] = np.nan
        frame.loc[rng.random(n) < 0.1, "c"] = np.nan
    y = (frame["a"].fillna(0) + (frame["c"] == "y") - 0.3 * frame["b"] > -0.5).astype(int).to_numpy()
    return frame, y


def _numeric(frame):
    return frame[["a", "b", "u"]]


def _edge_rows(model, frame):
    """Rows whose values sit on the fitted bin edges and caps (and one float64 step either side)."""
    values = []
    for attribute in ("binner_dict_", "right_tail_caps_", "left_tail_caps_"):
        for name, found in (getattr(model, attribute, None) or {}).items():
            tree = getattr(getattr(found, "best_estimator_", None), "tree_", None)
            if tree is not None:  # DecisionTreeDiscretiser's fitted tree: its thresholds
                found = tree.threshold[tree.feature >= 0]
            for value in np.atleast_1d(np.asarray(found, dtype=np.float64)):
                if np.isfinite(value):
                    values += [(name, value), (name, np.nextafter(value, -np.inf)), (name, np.nextafter(value, np.inf))]
    rows = frame.iloc[np.arange(len(values)) % len(frame)].copy().reset_index(drop=True)
    for r, (name, value) in enumerate(values):
        rows.loc[r, name] = value
    return rows


TreeDiscretiser = discretisation.DecisionTreeDiscretiser
TreeFeatures = creation.DecisionTreeFeatures

#: ``(id, make, data)``: ``data`` is "numeric" (columns a, b, u), "mixed" (with the string columns c, d) or
#: "missing" (mixed, with NaN in a and c). Transformers whose output keeps strings are followed by an encoder.
CASES = [
    # encoders
    ("ordinal", lambda: encoding.OrdinalEncoder(), "mixed"),
    ("ordinal_arbitrary_unseen", lambda: encoding.OrdinalEncoder("arbitrary", unseen="encode"), "mixed"),
    ("one_hot", lambda: encoding.OneHotEncoder(), "mixed"),
    ("one_hot_top_drop_binary", lambda: encoding.OneHotEncoder(top_categories=2, drop_last_binary=True), "mixed"),
    ("one_hot_drop_last", lambda: encoding.OneHotEncoder(drop_last=True), "mixed"),
    ("count_frequency", lambda: encoding.CountFrequencyEncoder("frequency", unseen="encode"), "mixed"),
    ("count_missing_ignored", lambda: encoding.CountFrequencyEncoder(missing_values="ignore"), "missing"),
    ("mean", lambda: encoding.MeanEncoder(smoothing=2.0, unseen="encode"), "mixed"),
    ("woe", lambda: encoding.WoEEncoder(), "mixed"),
    ("decision_tree", lambda: encoding.DecisionTreeEncoder(regression=False, random_state=0), "mixed"),
    (
        "rare_label_then_ordinal",
        lambda: make_pipeline(
            encoding.RareLabelEncoder(tol=0.1, n_categories=2, missing_values="ignore"),
            encoding.OrdinalEncoder(missing_values="ignore", unseen="encode"),
        ),
        "missing",
    ),
    (
        "match_categories_then_count",
        lambda: make_pipeline(
            preprocessing.MatchCategories(missing_values="ignore"),
            encoding.CountFrequencyEncoder(missing_values="ignore", unseen="encode"),
        ),
        "missing",
    ),
    # imputers
    ("mean_median", lambda: make_pipeline(imputation.MeanMedianImputer("median"), encoding.OrdinalEncoder(missing_values="ignore")), "missing"),  # noqa: E501
    ("arbitrary_number", lambda: imputation.ArbitraryNumberImputer(-999.5, variables=["a"]), "numeric_missing"),
    ("end_tail", lambda: imputation.EndTailImputer("iqr", tail="left", variables=["a"]), "numeric_missing"),
    (
        "categorical_imputer",
        lambda: make_pipeline(imputation.CategoricalImputer(), encoding.OneHotEncoder()),
        "missing",
    ),
    (
        "categorical_imputer_frequent",
        lambda: make_pipeline(imputation.CategoricalImputer("frequent", variables=["c"]), encoding.OrdinalEncoder()),
        "missing",
    ),
    (
        "missing_indicator",
        lambda: make_pipeline(
            imputation.AddMissingIndicator(missing_only=False),
            imputation.CategoricalImputer(),
            imputation.MeanMedianImputer(),
            encoding.OrdinalEncoder(),
        ),
        "missing",
    ),
    # outliers
    ("winsorizer_gaussian", lambda: outliers.Winsorizer(), "numeric"),
    ("winsorizer_iqr_both_indicators", lambda: outliers.Winsorizer("iqr", tail="both", add_indicators=True), "numeric"),
    ("winsorizer_quantiles", lambda: outliers.Winsorizer("quantiles", tail="both", fold=0.05), "numeric"),
    (
        "arbitrary_capper",
        lambda: outliers.ArbitraryOutlierCapper(max_capping_dict={"a": 1.0, "b": 4.0}, min_capping_dict={"a": -1.5}),
        "numeric",
    ),
    # transformations
    ("log", lambda: transformation.LogTransformer(variables=["b", "u"]), "numeric"),
    ("log10", lambda: transformation.LogTransformer(variables=["b"], base="10"), "numeric"),
    ("log_cp", lambda: transformation.LogCpTransformer(), "numeric"),
    ("log_cp_given", lambda: transformation.LogCpTransformer(variables=["a"], C=5.0, base="10"), "numeric"),
    ("reciprocal", lambda: transformation.ReciprocalTransformer(variables=["b"]), "numeric"),
    ("power", lambda: transformation.PowerTransformer(variables=["b", "u"], exp=0.37), "numeric"),
    ("box_cox", lambda: transformation.BoxCoxTransformer(variables=["b", "u"]), "numeric"),
    ("yeo_johnson", lambda: transformation.YeoJohnsonTransformer(), "numeric"),
    ("arcsinh", lambda: transformation.ArcSinhTransformer(loc=0.3, scale=2.0), "numeric"),
    # discretisers
    ("equal_frequency", lambda: discretisation.EqualFrequencyDiscretiser(q=7), "numeric"),
    ("equal_width", lambda: discretisation.EqualWidthDiscretiser(bins=5), "numeric"),
    ("geometric_width", lambda: discretisation.GeometricWidthDiscretiser(variables=["b"]), "numeric"),
    (
        "arbitrary_bins_outside_ignored",
        lambda: discretisation.ArbitraryDiscretiser({"a": [-1.5, 0.0, 0.5, 1.5], "u": [0, 0.5, 1]}, errors="ignore"),
        "numeric",
    ),
    # trees
    ("tree_discretiser_probability", lambda: TreeDiscretiser(cv=3, regression=False), "numeric"),
    ("tree_discretiser_rounded", lambda: TreeDiscretiser(cv=3, precision=2), "numeric_regression"),
    ("tree_discretiser_bins", lambda: TreeDiscretiser(cv=3, bin_output="bin_number"), "numeric_regression"),
    ("tree_features_pairs", lambda: TreeFeatures(features_to_combine=2, cv=3), "numeric_regression"),
    ("tree_features_binary_rounded", lambda: TreeFeatures(regression=False, cv=3, precision=3), "numeric"),
    (
        "tree_features_multiclass_drop",
        lambda: TreeFeatures(variables=["a", "b"], regression=False, cv=3, drop_original=True),
        "numeric_multiclass",
    ),
    # created features
    ("cyclical", lambda: creation.CyclicalFeatures(variables=["u", "b"]), "numeric"),
    ("cyclical_drop_original", lambda: creation.CyclicalFeatures(max_values={"u": 1.0}, drop_original=True), "numeric"),
    (
        "math",
        lambda: creation.MathFeatures(["a", "b", "u"], ["sum", "mean", "std", "var", "min", "max", "prod"]),
        "numeric",
    ),
    ("math_named_drop", lambda: creation.MathFeatures(["a", "u"], "mean", ["a_u_mean"], drop_original=True), "numeric"),
    (
        "relative",
        lambda: creation.RelativeFeatures(
            ["a", "u"], ["b"], ["add", "sub", "mul", "div", "truediv", "floordiv", "mod", "pow"]
        ),
        "numeric",
    ),
    (
        "relative_zero_filled",
        lambda: creation.RelativeFeatures(["u", "b"], ["a"], ["div", "floordiv", "mod"], fill_value=-1.0),
        "numeric",
    ),
    # selection, scaling, matching
    ("drop_features", lambda: make_pipeline(selection.DropFeatures(["d", "b"]), encoding.OrdinalEncoder()), "mixed"),
    ("drop_constant", lambda: selection.DropConstantFeatures(tol=0.6), "numeric"),
    ("drop_correlated", lambda: selection.DropCorrelatedFeatures(threshold=0.1), "numeric"),
    ("drop_duplicate", lambda: selection.DropDuplicateFeatures(), "numeric"),
    ("smart_correlated", lambda: selection.SmartCorrelatedSelection(threshold=0.05), "numeric"),
    ("mean_normalization", lambda: scaling.MeanNormalizationScaler(), "numeric"),
    ("match_variables", lambda: make_pipeline(preprocessing.MatchVariables(), encoding.OrdinalEncoder()), "mixed"),
    # wrapper
    ("wrapper_in_place", lambda: SklearnTransformerWrapper(StandardScaler(), variables=["a", "b"]), "numeric"),
    (
        "wrapper_one_hot",
        lambda: make_pipeline(
            SklearnTransformerWrapper(OneHotEncoder(sparse_output=False, handle_unknown="ignore"), variables=["c"]),
            encoding.OrdinalEncoder(variables=["d"]),
        ),
        "mixed",
    ),
    ("wrapper_polynomial", lambda: SklearnTransformerWrapper(PolynomialFeatures(), variables=["a", "u"]), "numeric"),
    ("wrapper_selector", lambda: SklearnTransformerWrapper(SelectKBest(k=1), variables=["a", "b"]), "numeric"),
]  # fmt: skip


def _data(kind: str, seed: int = 0):
    frame, y = _frame(seed=seed, missing=kind in ("missing", "numeric_missing"))
    if kind.endswith("regression"):
        y = frame["a"].fillna(0).to_numpy() * 2 + frame["b"].to_numpy()
    elif kind.endswith("multiclass"):
        y = np.digitize(frame["a"].fillna(0).to_numpy(), [-0.5, 0.5]) * 3 + 1  # labels 1, 4, 7
    return (_numeric(frame) if kind.startswith("numeric") else frame), y


def _fitted(make, kind: str):
    frame, y = _data(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(frame, y), frame


def _probe(model, frame, kind: str):
    """Training rows, then rows on edges and caps; for string data, an unseen category where the encoders
    accept one."""
    rows = pd.concat([frame.head(40), _edge_rows(_last(model), frame)], ignore_index=True)
    if kind == "numeric":
        rows.loc[3:4, "a"] = 0.0  # a zero reference: RelativeFeatures' fill_value
    if "c" in rows and _accepts_unseen(model):
        rows.loc[0:2, "c"] = "never seen"
    return rows


def _last(model):
    return model.steps[0][1] if hasattr(model, "steps") else model


def _accepts_unseen(model) -> bool:
    steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
    return all(getattr(step, "unseen", "encode") != "raise" for step in steps)


def _compare(got: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    assert got.shape == expected.shape
    scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("case_id", "make", "kind"), CASES, ids=[c[0] for c in CASES])
def test_matches_feature_engine(case_id: str, make, kind: str, dtype: str) -> None:
    model, frame = _fitted(make, kind)
    compiled = sk2tensor.convert(model, frame, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_portable(compiled.onnx)
    probe = _probe(model, frame, kind)
    numeric = [c for c in ("a", "b", "u") if c in probe]
    rows = probe.astype(dict.fromkeys(numeric, dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature_engine warns about unseen categories
        for batch in (rows, rows.iloc[:1], rows.iloc[5:9]):
            _compare(compiled.transform(batch), np.asarray(model.transform(batch), dtype=np.float64), dtype)
    assert compiled.transform(rows.iloc[:0]).shape[0] == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_other_data(seed: int) -> None:
    # Every case again on other rows (other categories' frequencies, caps, bin edges), float64, compared exactly
    # up to TOLERANCE.
    for case_id, make, kind in CASES:
        frame, y = _data(kind, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make().fit(frame, y)
            compiled = sk2tensor.convert(model, frame, dtype="float64")
            probe = _probe(model, frame, kind)
            expected = np.asarray(model.transform(probe), dtype=np.float64)
        assert compiled.validation.passed, (case_id, compiled.validation.summary())
        _compare(compiled.transform(probe), expected, "float64")


def test_arcsin_needs_a_float32_graph() -> None:
    model, frame = _fitted(lambda: transformation.ArcsinTransformer(variables=["u"]), "numeric")
    compiled = sk2tensor.convert(model, frame, dtype="float32")
    assert compiled.validation.passed, compiled.validation.summary()
    rows = frame.astype("float32")
    _compare(compiled.transform(rows), np.asarray(model.transform(rows), dtype=np.float64), "float32")
    with pytest.raises(UnsupportedParameterError, match="float64 Asin"):
        sk2tensor.convert(model, frame, dtype="float64")


def test_values_feature_engine_refuses_come_out_nan() -> None:
    # With unseen="raise" and missing_values="raise" feature_engine raises; a graph cannot, and gives NaN.
    model, frame = _fitted(lambda: encoding.MeanEncoder(unseen="raise"), "mixed")
    compiled = sk2tensor.convert(model, frame, dtype="float64")
    rows = frame.head(4).copy()
    rows.loc[0, "c"] = "never seen"
    rows.loc[1, "d"] = None
    out = compiled.transform(rows)
    column = {name: j for j, name in enumerate(model.get_feature_names_out())}
    assert np.isnan(out[0, column["c"]]) and np.isnan(out[1, column["d"]])
    np.testing.assert_array_equal(out[2:], np.asarray(model.transform(rows.iloc[2:]), dtype=np.float64))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(
            imputation.MeanMedianImputer(),
            imputation.CategoricalImputer(),
            encoding.RareLabelEncoder(tol=0.1, n_categories=2),
            encoding.WoEEncoder(),
            outliers.Winsorizer(tail="both"),
            LogisticRegression(max_iter=1000),
        ),
        lambda: make_pipeline(
            imputation.AddMissingIndicator(),
            imputation.ArbitraryNumberImputer(),
            imputation.CategoricalImputer(),
            encoding.OneHotEncoder(),
            creation.RelativeFeatures(["a"], ["b"], ["div"]),
            discretisation.EqualFrequencyDiscretiser(variables=["u"], q=5),
            RandomForestClassifier(30, random_state=0),
        ),
    ],
    ids=["impute_encode_cap_logistic", "indicators_relative_bins_forest"],
)
def test_pipelines(make, dtype: str) -> None:
    frame, y = _frame(missing=True)
    model = make().fit(frame, y)
    compiled = sk2tensor.convert(model, frame, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_portable(compiled.onnx)
    probe = frame.head(80).astype({"a": dtype, "b": dtype, "u": dtype})
    assert_matches_sklearn(model, compiled, probe, dtype)


def test_every_registered_class_has_a_case() -> None:
    covered = set()
    for _, make, _ in CASES:
        model = make()
        steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
        covered |= {type(step) for step in steps}
    covered.add(transformation.ArcsinTransformer)
    registered = {cls for cls in sk2tensor.supported() if cls.__module__.split(".")[0] == "feature_engine"}
    # Every selector converts the same way (the columns left after features_to_drop_): a few stand for all.
    selectors = {cls for cls in registered if cls.__module__.startswith("feature_engine.selection")}
    missing = registered - covered - selectors
    assert not missing, sorted(cls.__name__ for cls in missing)


# ----------------------------------------------------------------------------------------- refusals
def test_string_outputs_alone_are_refused() -> None:
    model, frame = _fitted(lambda: encoding.RareLabelEncoder(tol=0.1, n_categories=2), "mixed")
    with pytest.raises(UnsupportedParameterError, match="string columns"):
        sk2tensor.convert(model, frame)


def test_discretiser_boundaries_and_callables_are_refused() -> None:
    model, frame = _fitted(lambda: discretisation.EqualWidthDiscretiser(return_boundaries=True), "numeric")
    with pytest.raises(UnsupportedParameterError, match="return_boundaries"):
        sk2tensor.convert(model, frame)
    model, frame = _fitted(lambda: TreeDiscretiser(cv=3, bin_output="boundaries", precision=2), "numeric_regression")
    with pytest.raises(UnsupportedParameterError, match="bin_output"):
        sk2tensor.convert(model, frame)
    model, frame = _fitted(lambda: creation.MathFeatures(["a", "b"], [np.sum]), "numeric")
    with pytest.raises(UnsupportedParameterError, match="functions are named"):
        sk2tensor.convert(model, frame)


def test_transformers_feature_engine_cannot_express_as_a_graph_are_refused() -> None:
    frame, y = _frame()
    model = encoding.StringSimilarityEncoder().fit(frame, y)
    with pytest.raises(sk2tensor.UnsupportedEstimatorError, match="StringSimilarityEncoder"):
        sk2tensor.convert(model, frame)


def test_unfitted() -> None:
    frame, _ = _frame()
    with pytest.raises(NotFittedError, match="Winsorizer"):
        sk2tensor.convert(outliers.Winsorizer(), _numeric(frame))


def test_command_line_validates_on_a_csv_with_string_columns(tmp_path) -> None:
    import joblib

    from tests.test_cli import assert_ok, invoke

    frame, y = _frame()
    model = make_pipeline(encoding.OneHotEncoder(), outliers.Winsorizer(), LogisticRegression(max_iter=1000))
    model.fit(frame, y)
    joblib.dump(model, tmp_path / "model.joblib")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # hidden outside __main__, as in a real run
        result = invoke("export", tmp_path / "model.joblib", "-o", out, "--trust", "--validate", tmp_path / "rows.csv")
    assert_ok(result)
    np.testing.assert_array_equal(sk2tensor.load(out).predict(frame), model.predict(frame))


def test_an_output_of_numbers_and_strings_together_is_refused() -> None:
    # RareLabelEncoder on a numeric variable keeps the frequent numbers and writes "Rare" for the others.
    frame, y = _frame()
    frame["n"] = np.random.default_rng(0).choice([1, 2, 3, 9], len(frame), p=[0.5, 0.3, 0.18, 0.02])
    rare = encoding.RareLabelEncoder(tol=0.05, n_categories=2, ignore_format=True, variables=["n"])
    model = make_pipeline(rare, encoding.CountFrequencyEncoder(ignore_format=True, variables=["n"]))
    model.fit(_numeric(frame).assign(n=frame["n"]), y)
    with pytest.raises(UnsupportedParameterError, match="numbers or strings, not both"):
        sk2tensor.convert(model, _numeric(frame).assign(n=frame["n"]))
