"""Models built with imbalanced-learn, category_encoders and feature_engine: their own predict beside sk2tensor's
export (and skl2onnx, which converts none of them: its rows say why).

    python -m benchmarks.libraries [--repeats 7] [--no-write] [--out DIR]

Each model is fitted on 20,000 rows of a DataFrame with 8 numeric columns and 3 string columns (4, 12 and 60
categories; NaN in some numeric and string cells for the models that impute them). Engines, in one process on
the same DataFrame rows: the library's own ``predict_proba`` (pandas transforms, then scikit-learn's model on one
thread); sk2tensor's export through ``CompiledModel.predict_proba`` on the same DataFrame (its string columns
become string inputs). Batches of 1, 100, 10,000 and 100,000 rows; median seconds after a warm-up, rows/s, ratio
to the library and the largest difference from it. Writes ``benchmarks/results/libraries-<machine>-<date>.md``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pipelines import benchmark_main, report_text, timed_row

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_ROWS = 20_000
BATCHES = (1, 100, 10_000, 100_000)
NUMERIC = [f"x{i}" for i in range(8)]
STRINGS = {"channel": 4, "region": 12, "merchant": 60}


def frame(rows: int, seed: int, missing: bool) -> tuple[object, np.ndarray]:
    """A DataFrame of the benchmark's columns and an imbalanced binary target (about 10% positives)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=rows).astype(np.float32) for name in NUMERIC}
    for name, count in STRINGS.items():
        weights = rng.dirichlet(np.ones(count))
        data[name] = rng.choice([f"{name}_{i}" for i in range(count)], rows, p=weights).astype(object)
    table_ = pd.DataFrame(data)
    effect = {name: dict(zip(sorted(set(table_[name])), rng.normal(size=len(set(table_[name]))), strict=True))
              for name in STRINGS}  # fmt: skip
    score = table_[NUMERIC[:4]].sum(axis=1) + sum(table_[name].map(effect[name]) for name in STRINGS)
    y = (score > np.quantile(score, 0.9)).astype(int).to_numpy()
    if missing:
        for name in [*NUMERIC[:2], "region"]:
            table_.loc[rng.random(rows) < 0.05, name] = np.nan
    return table_, y


def _models() -> dict[str, tuple[Callable[[], object], bool]]:
    """name -> (make the model, whether its data has missing cells)."""
    import category_encoders as ce
    from feature_engine import creation, encoding, imputation, outliers, transformation
    from imblearn.ensemble import BalancedRandomForestClassifier
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import make_pipeline as imblearn_pipeline
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    strings = list(STRINGS)
    return {
        "imblearn: one-hot + scaler -> SMOTE -> logistic": (
            lambda: imblearn_pipeline(
                ColumnTransformer(
                    [("codes", OneHotEncoder(handle_unknown="ignore"), strings)], remainder=StandardScaler()
                ),
                SMOTE(random_state=0),
                LogisticRegression(max_iter=1000),
            ),
            False,
        ),
        "imblearn: ordinal -> BalancedRandomForest 100 x depth 8": (
            lambda: make_pipeline(
                ColumnTransformer(
                    [("codes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), strings)],
                    remainder="passthrough",
                ),
                BalancedRandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=1),
            ),
            False,
        ),
        "category_encoders: TargetEncoder -> HGB 100": (
            lambda: make_pipeline(
                ce.TargetEncoder(cols=strings), HistGradientBoostingClassifier(max_iter=100, random_state=0)
            ),
            True,
        ),
        "category_encoders: BinaryEncoder -> logistic": (
            lambda: make_pipeline(ce.BinaryEncoder(cols=strings), StandardScaler(), LogisticRegression(max_iter=1000)),
            False,
        ),
        "feature_engine: impute, rare labels, one-hot, winsorize -> RF 100 x depth 8": (
            lambda: make_pipeline(
                imputation.MeanMedianImputer(),
                imputation.CategoricalImputer(),
                encoding.RareLabelEncoder(tol=0.02, n_categories=5),
                encoding.OneHotEncoder(),
                outliers.Winsorizer(tail="both"),
                RandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=1),
            ),
            True,
        ),
        "feature_engine: Yeo-Johnson, ratios, rare labels, WoE -> logistic": (
            lambda: make_pipeline(
                transformation.YeoJohnsonTransformer(variables=NUMERIC[4:]),
                creation.RelativeFeatures(NUMERIC[:2], NUMERIC[2:3], ["sub", "mul"]),
                # rare merchants (and unseen ones) grouped, so that every WoE category has positives
                encoding.RareLabelEncoder(tol=0.03, n_categories=2, variables=strings),
                encoding.WoEEncoder(variables=strings, fill_value=0.5),
                LogisticRegression(max_iter=1000),
            ),
            False,
        ),
    }


def _skl2onnx_note(estimator: object, rows: object) -> str:
    try:
        from skl2onnx import to_onnx
    except ImportError:
        return "skl2onnx not installed"
    try:
        to_onnx(estimator, rows)
    except Exception as error:  # any refusal is the row's note
        return f"cannot convert: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
    return "converted (not timed)"


def run(repeats: int) -> list[dict[str, object]]:
    import sk2tensor

    rows: list[dict[str, object]] = []
    for name, (make, missing) in _models().items():
        rows_all, target_all = frame(TRAIN_ROWS + max(BATCHES), 0, missing)
        train, target = rows_all.iloc[:TRAIN_ROWS], target_all[:TRAIN_ROWS]
        probe = rows_all.iloc[TRAIN_ROWS:].reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the libraries' deprecation notices
            estimator = make().fit(train, target)
            start = time.perf_counter()
            compiled = sk2tensor.convert(estimator, probe.iloc[:1_000])
            export_seconds = time.perf_counter() - start
            note = _skl2onnx_note(estimator, probe.iloc[:10])
            engines: dict[str, Callable] = {"library": estimator.predict_proba, "sk2tensor": compiled.predict_proba}
            for batch in BATCHES:
                rows_in = probe.iloc[:batch]
                expected = np.asarray(estimator.predict_proba(rows_in), dtype=np.float64)
                base = None
                for engine, call in engines.items():
                    note = f"export {export_seconds:.2f} s" if engine == "sk2tensor" else ""
                    rows.append(timed_row(name, batch, engine, call, rows_in, expected, base, repeats, note))
                    base = rows[-1]["seconds"] if engine == "library" else base
                rows.append({"model": name, "batch": batch, "engine": "skl2onnx + ORT", "note": note})
                print(name, batch, flush=True)
    return rows


def versions() -> str:
    """The versions of the libraries in this process."""
    import category_encoders
    import feature_engine
    import imblearn
    import onnxruntime
    import pandas
    import sklearn

    import sk2tensor

    found = [
        f"sk2tensor {sk2tensor.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"imbalanced-learn {imblearn.__version__}",
        f"category_encoders {category_encoders.__version__}",
        f"feature_engine {feature_engine.__version__}",
        f"pandas {pandas.__version__}",
        f"onnxruntime {onnxruntime.__version__}",
    ]
    try:
        found.append(f"skl2onnx {__import__('skl2onnx').__version__}")
    except ImportError:
        found.append("skl2onnx not installed")
    return ", ".join(found)


def report(rows: list[dict[str, object]]) -> str:
    explanation = [
        "Median seconds of one `predict_proba` call after a warm-up, same process, same DataFrame rows (8 float32",
        "columns, 3 string columns). `x sklearn` is the library's seconds over the engine's (the library's own",
        "predict is the baseline here; above 1: faster). `max diff`: largest difference from the library's",
        "probabilities. The sk2tensor note is `convert()`'s time, its validation on 1,000 rows included.",
    ]
    title = "imbalanced-learn, category_encoders and feature_engine models"
    return report_text(title, versions(), explanation, rows)


def main(argv: list[str] | None = None) -> int:
    return benchmark_main(argv, __doc__.split("\n\n")[0], lambda repeats: report(run(repeats)), "libraries", 7)


if __name__ == "__main__":
    raise SystemExit(main())
