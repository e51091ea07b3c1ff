"""sk2tensor.spark: scoring Spark DataFrames (local[2]) and Parquet directories, checked row by row against the
in-process CompiledModel.

Every prediction is compared exactly (labels and floats alike): both sides run the same ONNX Runtime CPU kernels
on this machine, and a row's result does not depend on the batch it is computed in (Spark hands the workers
Arrow batches of 700 rows here; in-process runs the whole table).

One SparkSession serves the module (starting its JVM costs ~10 s); the tests are in one xdist group so that
``--dist loadgroup`` keeps them on one worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import sk2tensor
from sk2tensor.errors import InputError, ModelFileError, RuntimeUnavailableError
from sk2tensor.scoring import column_names

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("pyspark", reason="sk2tensor[spark] is not installed")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17 or newer: no java on PATH and JAVA_HOME is unset", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

import sk2tensor.spark as sk_spark  # noqa: E402

pytestmark = [
    pytest.mark.xdist_group("spark"),
    # pyspark 4.x on pandas 3: noise from pyspark itself, on the driver.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

FEATURES = ["x0", "x1", "x2", "x3", "x4"]
FILES = 3
ROWS_PER_FILE = 1000
ANIMALS = np.array(["cat", "dog", "owl"])


def make_rows(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame.loc[rng.random(rows) < 0.02, "x3"] = np.nan  # missing values reach the trees
    return frame


TRAIN = make_rows(0, 600)
SIGNAL = TRAIN["x0"] + TRAIN["x1"] * TRAIN["x2"] - 0.5 * TRAIN["x4"]


@pytest.fixture(scope="module")
def spark() -> SparkSession:
    """local[2], no UI, small shuffles, several Arrow batches per file; workers run this interpreter."""
    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sk2tensor-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        # A short-lived JVM: the C1 compiler alone and the serial GC save ~30% of the CPU time of this module.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if previous is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = previous


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Every row of the Parquet directory, with an id, its columns in another order than the models'."""
    frame = pd.concat([make_rows(1 + i, ROWS_PER_FILE) for i in range(FILES)], ignore_index=True)
    frame.insert(0, "id", np.arange(len(frame), dtype=np.int64))
    frame["note"] = "row-" + frame["id"].astype(str)
    return frame[["id", "x3", "note", "x1", "x4", "x0", "x2"]]


@pytest.fixture(scope="module")
def parquet_dir(rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("spark") / "rows"
    directory.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(rows)), FILES)):
        rows.iloc[part].to_parquet(directory / f"part-{i}.parquet", index=False)
    return directory


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3-class classifier with int labels, a forest with string labels, a regressor; fitted on DataFrames."""
    directory = tmp_path_factory.mktemp("spark-models")
    fitted = {
        "int_labels": LogisticRegression(max_iter=500).fit(TRAIN.fillna(0), np.digitize(SIGNAL, [-0.5, 0.5])),
        "str_labels": RandomForestClassifier(10, max_depth=4, random_state=0).fit(
            TRAIN, ANIMALS[np.digitize(SIGNAL.fillna(0), [-0.5, 0.5])]
        ),
        "regressor": Ridge().fit(TRAIN.fillna(0), SIGNAL),
        "explained": RandomForestClassifier(5, max_depth=3, random_state=0).fit(
            TRAIN, ANIMALS[np.digitize(SIGNAL.fillna(0), [-0.5, 0.5])]
        ),
    }
    paths = {}
    for name, estimator in fitted.items():
        paths[name] = directory / f"{name}.onnx"
        sk2tensor.convert(estimator, TRAIN.fillna(0), contributions=name == "explained").save(paths[name])
    return paths


@pytest.fixture(scope="module")
def df(spark: SparkSession, parquet_dir: Path) -> object:
    return spark.read.parquet(str(parquet_dir))


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)


def expected_columns(path: Path, rows: pd.DataFrame, methods: list[str]) -> dict[str, np.ndarray]:
    """What the in-process CompiledModel gives, as columns named like ``sk2tensor predict``'s."""
    compiled = sk2tensor.load(path, device="cpu")
    columns = {}
    for method in methods:
        result = compiled.run(method, rows)
        names = column_names(compiled, method, result)
        flat = result.reshape(len(result), -1) if result.ndim > 1 else result
        for j, name in enumerate(names):
            columns[name] = result if result.ndim == 1 else flat[:, j]
    return columns


def assert_same(got: pd.DataFrame, expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name].to_numpy(), values, err_msg=name)


# ----------------------------------------------------------------------------------------- scoring
def test_predict_proba_of_a_classifier(df: object, rows: pd.DataFrame, models: dict[str, Path]) -> None:
    scored = sk_spark.predict(df, models["int_labels"])  # default method: predict_proba
    names = ["predict_proba_0", "predict_proba_1", "predict_proba_2"]
    assert scored.columns == [*df.columns, *names]  # input columns passed through, then the predictions
    assert all(scored.schema[n].dataType == T.DoubleType() for n in names)
    got = by_id(scored.toPandas())
    pd.testing.assert_frame_equal(got[list(df.columns)], by_id(rows), check_dtype=False)
    assert_same(got, expected_columns(models["int_labels"], by_id(rows), ["predict_proba"]))


def test_string_labels_and_several_methods(df: object, rows: pd.DataFrame, models: dict[str, Path]) -> None:
    methods = ["predict", "predict_proba"]
    shuffled = df.select("x2", "note", "x0", "id", "x4", "x3", "x1")  # yet another column order
    scored = sk_spark.predict(shuffled, models["str_labels"], method=methods)
    expected = expected_columns(models["str_labels"], by_id(rows), methods)
    assert scored.columns[len(shuffled.columns) :] == list(expected)
    assert list(expected) == ["predict", "predict_proba_cat", "predict_proba_dog", "predict_proba_owl"]
    assert scored.schema["predict"].dataType == T.StringType()
    got = by_id(scored.toPandas())
    assert set(got["predict"]) <= set(ANIMALS)
    assert_same(got, expected)


def test_contributions_become_one_column_per_class_and_feature(
    df: object, rows: pd.DataFrame, models: dict[str, Path]
) -> None:
    scored = sk_spark.predict(df, models["explained"], method=["predict", "contributions"])
    expected = expected_columns(models["explained"], by_id(rows), ["predict", "contributions"])
    assert scored.columns[len(df.columns) :] == list(expected)
    assert list(expected)[1] == "contributions_cat_x0" and list(expected)[-1] == "contributions_owl_expected_value"
    assert len(expected) == 1 + 3 * (len(FEATURES) + 1)
    assert_same(by_id(scored.toPandas()), expected)


def test_predict_of_a_regressor_with_output_cols(df: object, rows: pd.DataFrame, models: dict[str, Path]) -> None:
    scored = sk_spark.predict(df, models["regressor"], method="predict", output_cols=["score"])
    assert scored.schema["score"].dataType == T.DoubleType()
    assert "predict" not in scored.columns
    got = by_id(scored.toPandas())
    np.testing.assert_array_equal(got["score"].to_numpy(), sk2tensor.load(models["regressor"]).predict(by_id(rows)))


def test_string_input_columns(spark: SparkSession, models: dict[str, Path]) -> None:
    """A model with a string column gets the Spark string column (nulls included) as CompiledModel takes it."""
    rng = np.random.default_rng(3)
    cities = np.array(["paris", "lyon", "nice"])
    train = pd.DataFrame({"age": rng.normal(40, 10, 300), "city": rng.choice(cities, 300)})
    encode = ColumnTransformer([("age", StandardScaler(), ["age"]), ("city", OneHotEncoder(), ["city"])])
    estimator = make_pipeline(encode, LogisticRegression()).fit(train, (train["city"] == "lyon") ^ (train["age"] > 40))
    path = models["regressor"].with_name("cities.onnx")
    sk2tensor.convert(estimator, train).save(path)
    rows = pd.DataFrame(
        {"id": np.arange(400), "city": rng.choice([*cities, None], 400), "age": rng.normal(40, 10, 400)}
    )
    scored = sk_spark.predict(spark.createDataFrame(rows), path, method=["predict", "predict_proba"])
    assert scored.schema["predict"].dataType == T.BooleanType()
    assert_same(by_id(scored.toPandas()), expected_columns(path, rows, ["predict", "predict_proba"]))


def test_columns_named_otherwise_picked_with_columns(df: object, rows: pd.DataFrame, models: dict[str, Path]) -> None:
    renamed = df.select("id", *(df[name].alias(f"feature_{name}") for name in FEATURES))
    picked = [f"feature_{name}" for name in FEATURES]  # in the model's order
    scored = sk_spark.predict(renamed, models["regressor"], method="predict", columns=picked)
    got = by_id(scored.toPandas())
    np.testing.assert_array_equal(got["predict"].to_numpy(), sk2tensor.load(models["regressor"]).predict(by_id(rows)))
    with pytest.raises(InputError, match="has no column"):
        sk_spark.predict(renamed, models["regressor"], method="predict", columns=["x0", *picked[1:]])


def test_output_schema_and_renaming_by_mapping(df: object, models: dict[str, Path]) -> None:
    schema = sk_spark.output_schema(
        df, models["int_labels"], method=["predict", "decision_function"], output_cols={"predict": "label"}
    )
    names = schema.fieldNames()[len(df.columns) :]
    assert names == ["label", "decision_function_0", "decision_function_1", "decision_function_2"]
    assert schema["label"].dataType == T.LongType()  # int class labels


def test_predict_parquet(parquet_dir: Path, rows: pd.DataFrame, models: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "scores"
    result = sk_spark.predict_parquet(parquet_dir, models["str_labels"], output, keep_columns=["id"])
    assert result.rows == len(rows)
    assert result.methods == ("predict",)  # the CLI's default method
    assert result.columns == ("predict",)  # the prediction columns, as sk2tensor.scoring.score_file's
    got = by_id(pd.read_parquet(output))
    assert list(got.columns) == ["id", "predict"]
    assert_same(got, expected_columns(models["str_labels"], by_id(rows), ["predict"]))
    with pytest.raises(ModelFileError, match="not empty"):
        sk_spark.predict_parquet(parquet_dir, models["str_labels"], output)
    assert [p.name for p in tmp_path.iterdir()] == ["scores"]  # written beside it, then renamed


def test_predict_parquet_reports_a_worker_error_on_the_driver(
    rows: pd.DataFrame, models: dict[str, Path], tmp_path: Path
) -> None:
    """A failure inside the job (text where the model wants numbers) comes back as the sk2tensor error."""
    source = tmp_path / "text"
    source.mkdir()
    rows.assign(x0="a word").to_parquet(source / "part-0.parquet", index=False)
    with pytest.raises(InputError, match="on a Spark worker") as caught:
        sk_spark.predict_parquet(source, models["regressor"], tmp_path / "out")
    assert "Traceback" not in str(caught.value)


# ----------------------------------------------------------------------------------------- errors on the driver
def test_wrong_model_path(df: object, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such ONNX file"):
        sk_spark.predict(df, tmp_path / "absent.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        sk_spark.predict(df, tmp_path / "broken.onnx")


def test_missing_column(df: object, models: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"lacks the column\(s\) 'x4'"):
        sk_spark.predict(df.drop("x4"), models["int_labels"])


def test_bad_method(df: object, models: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="no 'predict_proba' output"):
        sk_spark.predict(df, models["regressor"])  # a regressor has no predict_proba
    with pytest.raises(InputError, match="no 'transform' output"):
        sk_spark.predict(df, models["int_labels"], method=["predict", "transform"])


def test_bad_output_cols(df: object, models: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"gives 1 name\(s\) for 3"):
        sk_spark.predict(df, models["int_labels"], output_cols=["p"])
    with pytest.raises(InputError, match="already has the column"):
        sk_spark.predict(df, models["regressor"], method="predict", output_cols=["x0"])


def test_worker_without_onnxruntime(
    spark: SparkSession, df: object, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package named onnxruntime that fails to import, first on the workers' PYTHONPATH: the probe job reports
    it on the driver. (spark.executorEnv.* conf fills sc.environment, which each job's workers get.)"""
    fake = tmp_path / "site" / "onnxruntime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('simulated: no onnxruntime on this worker')\n")
    monkeypatch.setitem(spark.sparkContext.environment, "PYTHONPATH", str(fake.parent))
    with pytest.raises(RuntimeUnavailableError, match="onnxruntime cannot be imported on the Spark worker") as caught:
        sk_spark.predict(df, models["int_labels"])
    message = str(caught.value)
    assert "simulated: no onnxruntime" in message and "sk2tensor[spark,cpu]" in message
    assert "Traceback" not in message and len(message) < 600


def test_worker_python_without_sk2tensor(
    spark: SparkSession, df: object, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers running a Python without sk2tensor's dependencies (a PYSPARK_PYTHON that names the wrong one):
    here this interpreter without its site-packages."""
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    monkeypatch.setattr(spark.sparkContext, "pythonExec", str(bare))
    with pytest.raises(RuntimeUnavailableError, match="the Spark workers cannot run sk2tensor") as caught:
        sk_spark.predict(df, models["int_labels"])
    message = str(caught.value)
    assert "No module named" in message and str(bare) in message and "sk2tensor[spark,cpu]" in message
    assert "Traceback" not in message and len(message) < 800


def test_missing_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class NoSession:
        @staticmethod
        def getActiveSession() -> None:
            return None

    monkeypatch.setattr(sk_spark, "SparkSession", NoSession)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(RuntimeUnavailableError, match="Spark needs Java 17 or newer"):
        sk_spark.local_session()


def test_sk2tensor_never_imports_pyspark_and_names_the_extra() -> None:
    code = (
        "import sys\n"
        "import sk2tensor, sk2tensor.cli, sk2tensor.scoring\n"
        "assert 'pyspark' not in sys.modules, 'importing sk2tensor imported pyspark'\n"
        "sys.modules['pyspark'] = None\n"
        "try:\n"
        "    import sk2tensor.spark\n"
        "except sk2tensor.RuntimeUnavailableError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'sk2tensor[spark]'" in done.stdout


def test_cli_predict_engine_spark(
    spark: SparkSession, parquet_dir: Path, rows: pd.DataFrame, models: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from sk2tensor import cli

    output = tmp_path / "scores"
    args = ["predict", models["str_labels"], parquet_dir, "-o", output, "--engine", "spark", "-m", "predict"]
    result = CliRunner().invoke(cli.app, [str(a) for a in [*args, "--keep", "id"]])
    assert result.exit_code == 0, result.output
    assert f"scored {len(rows):,} rows" in result.output and "spark)" in result.output
    got = by_id(pd.read_parquet(output))
    assert list(got.columns) == ["id", "predict"]
    assert_same(got, expected_columns(models["str_labels"], by_id(rows), ["predict"]))

    workers = CliRunner().invoke(
        cli.app, [str(a) for a in [*args[:4], tmp_path / "o", "--engine", "spark", "--workers", "2"]]
    )
    assert workers.exit_code == 2 and "--workers applies to --engine ray only" in workers.output
    local = CliRunner().invoke(cli.app, [str(a) for a in [*args[:4], tmp_path / "o.csv", "--keep", "id"]])
    assert local.exit_code == 2 and "--keep applies to --engine ray or spark only" in local.output
