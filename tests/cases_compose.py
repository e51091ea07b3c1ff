"""Conformance cases: composition (pipeline, compose, meta-ensembles, multioutput, model_selection), including
realistic pipelines fitted on a pandas DataFrame with missing values and integer-coded categories."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.ensemble import (
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier, MultiOutputRegressor, RegressorChain
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline, make_union
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

from tests.cases import Case
from tests.cases_preprocessing import local

NUMERIC = ["age", "income", "score"]
CATEGORIES = ["city", "plan", "channel"]
FRAMES = ("frame", "frame_multiclass")


def _scaled_logistic() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def frame_preprocessor(sparse: bool = False) -> ColumnTransformer:
    """Numeric columns imputed and scaled, categorical codes imputed and one-hot encoded (unknown codes
    ignored), selected by name."""
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=sparse),
                ),
                CATEGORIES,
            ),
        ]
    )


def _tree_preprocessor() -> ColumnTransformer:
    """Categorical codes selected by pattern, ordinal-encoded with unknown and missing values kept apart; the
    numeric columns passed through (trees route their missing values)."""
    return ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                make_column_selector(pattern="^(city|plan|channel)$"),
            )
        ],
        remainder="passthrough",
    )


CASES: list[Case] = [
    # ---------------------------------------------------------------- realistic DataFrame pipelines
    *local(
        lambda: make_pipeline(frame_preprocessor(), LogisticRegression(max_iter=2000)),
        *FRAMES,
        name="frame_LogisticRegression",
        fit_rows=500,
    ),
    *local(
        lambda: make_pipeline(frame_preprocessor(sparse=True), RandomForestClassifier(30, max_depth=8, random_state=0)),
        *FRAMES,
        name="frame_RandomForest",
        fit_rows=500,
    ),
    *local(
        lambda: make_pipeline(_tree_preprocessor(), HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        "frame",
        name="frame_HistGradientBoosting",
        fit_rows=500,
    ),
    *local(
        lambda: make_pipeline(frame_preprocessor(), Ridge()),
        "frame_regression",
        name="frame_Ridge",
        fit_rows=500,
    ),
    *local(lambda: frame_preprocessor(sparse=True), "frame", name="ColumnTransformer_sparse", fit_rows=500),
    # ---------------------------------------------------------------- pipeline and compose
    *local(lambda: make_union(StandardScaler(), MinMaxScaler()), "wine", name="FeatureUnion"),
    *local(
        lambda: FeatureUnion(
            [("a", StandardScaler()), ("b", "passthrough"), ("c", "drop")], transformer_weights={"a": 2.0}
        ),
        "iris",
        name="FeatureUnion_weights",
    ),
    *local(
        lambda: make_pipeline(make_union(StandardScaler(), PolynomialFeatures(2)), LogisticRegression(max_iter=5000)),
        "iris",
        name="Pipeline_union_LogisticRegression",
    ),
    *local(
        lambda: ColumnTransformer(
            [("s", StandardScaler(), [0, 1, 2]), ("p", PolynomialFeatures(2), [3, 4])], remainder="passthrough"
        ),
        "wine",
        name="ColumnTransformer_indices",
    ),
    *local(
        lambda: ColumnTransformer(
            [("s", StandardScaler(), np.arange(13) < 5), ("d", "drop", [6]), ("q", "passthrough", [7, 8])],
            transformer_weights={"s": 0.5},
        ),
        "wine",
        name="ColumnTransformer_mask",
    ),
    *local(
        lambda: TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1),
        "diabetes",
        name="TransformedTargetRegressor_log",
    ),
    *local(
        lambda: TransformedTargetRegressor(Ridge(), transformer=StandardScaler()),
        "diabetes",
        "linnerud",
        name="TransformedTargetRegressor_scaler",
    ),
    *local(
        lambda: TransformedTargetRegressor(LinearRegression(), transformer=PowerTransformer()),
        "diabetes",
        name="TransformedTargetRegressor_power",
    ),
    # ---------------------------------------------------------------- voting, stacking, bagging
    *local(
        lambda: VotingClassifier(
            [
                ("lr", _scaled_logistic()),
                ("rf", RandomForestClassifier(10, random_state=0)),
                ("dt", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ],
            voting="soft",
            weights=[1, 2, 0.5],
        ),
        "string_labels",
        "breast_cancer",
        name="VotingClassifier_soft",
    ),
    *local(
        lambda: VotingClassifier(
            [
                ("lr", _scaled_logistic()),
                ("rf", RandomForestClassifier(10, random_state=0)),
                ("dt", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ],
            voting="hard",
        ),
        "wine",
        "shifted_labels",
        name="VotingClassifier_hard",
    ),
    *local(
        lambda: VotingRegressor(
            [("r", Ridge()), ("dt", DecisionTreeRegressor(max_depth=4, random_state=0))], weights=[2, 1]
        ),
        "diabetes",
    ),
    *local(
        lambda: StackingClassifier(
            [("lr", _scaled_logistic()), ("rf", RandomForestClassifier(10, random_state=0))],
            final_estimator=LogisticRegression(),
        ),
        "string_labels",
        "breast_cancer",
    ),
    *local(
        lambda: StackingClassifier(
            [("lr", _scaled_logistic()), ("gb", GradientBoostingClassifier(n_estimators=10, random_state=0))],
            final_estimator=DecisionTreeClassifier(max_depth=3, random_state=0),
            stack_method="predict",
            passthrough=True,
        ),
        "wine",
        name="StackingClassifier_predict_passthrough",
    ),
    *local(
        lambda: StackingRegressor(
            [("r", Ridge()), ("dt", DecisionTreeRegressor(max_depth=4, random_state=0))],
            final_estimator=Ridge(),
            passthrough=True,
        ),
        "diabetes",
    ),
    *local(
        lambda: BaggingClassifier(DecisionTreeClassifier(), n_estimators=10, max_features=0.5, random_state=0),
        "string_labels",
        "wine",
    ),
    *local(
        lambda: BaggingClassifier(
            _scaled_logistic(), n_estimators=5, max_samples=0.3, bootstrap_features=True, random_state=0
        ),
        "iris",
        name="BaggingClassifier_logistic",
    ),
    *local(lambda: BaggingRegressor(Ridge(), n_estimators=10, max_features=0.7, random_state=0), "diabetes"),
    # ---------------------------------------------------------------- multioutput
    *local(lambda: MultiOutputClassifier(LogisticRegression(max_iter=2000)), "multilabel", "multi_target"),
    *local(
        lambda: MultiOutputClassifier(RandomForestClassifier(20, max_depth=6, random_state=0)),
        "multi_target",
        name="MultiOutputClassifier_forest",
    ),
    # Tree classifiers fitted on a 2-D target (targets of 3, 2 and 4 classes).
    *local(lambda: DecisionTreeClassifier(max_depth=6, random_state=0), "multi_target", name="DecisionTree_2d"),
    *local(lambda: ExtraTreeClassifier(random_state=0), "multi_target", name="ExtraTree_2d"),
    *local(lambda: RandomForestClassifier(25, random_state=0), "multi_target", name="RandomForest_2d"),
    *local(lambda: ExtraTreesClassifier(15, max_depth=8, random_state=0), "multi_target", name="ExtraTrees_2d"),
    *local(lambda: MultiOutputRegressor(Ridge()), "linnerud", "random_multioutput"),
    *local(lambda: ClassifierChain(LogisticRegression(max_iter=2000), order=[2, 0, 1]), "multilabel"),
    *local(
        lambda: ClassifierChain(DecisionTreeClassifier(max_depth=4, random_state=0), chain_method="predict_proba"),
        "multilabel",
        name="ClassifierChain_proba",
    ),
    *local(lambda: RegressorChain(Ridge(), order="random", random_state=0), "linnerud"),
    # ---------------------------------------------------------------- searches
    *local(
        lambda: GridSearchCV(_scaled_logistic(), {"logisticregression__C": [0.1, 1.0]}, cv=3),
        "string_labels",
    ),
    *local(
        lambda: RandomizedSearchCV(
            DecisionTreeRegressor(random_state=0), {"max_depth": [2, 3, 4]}, n_iter=2, cv=3, random_state=0
        ),
        "diabetes",
    ),
    *local(
        lambda: HalvingGridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [2, 3, 4]}, random_state=0),
        "breast_cancer",
    ),
    *local(
        lambda: HalvingRandomSearchCV(
            make_pipeline(StandardScaler(), Ridge()),
            {"ridge__alpha": [0.1, 1.0, 10.0]},
            cv=3,
            min_resources=150,
            random_state=0,
        ),
        "diabetes",
    ),
    *local(
        lambda: make_pipeline(FunctionTransformer(np.log1p), DecisionTreeRegressor(max_depth=6, random_state=0)),
        "positive",
        name="Pipeline_log_forest",
    ),
]
