"""README.md's generated sections are current, its Python example runs, and its output lists are true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.pipeline import Pipeline

import sk2tensor
from sk2tensor import docs

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_is_up_to_date() -> None:
    assert docs.README == README
    stale = docs.check(README)
    assert not stale, f"README.md sections {stale} are out of date: run `make docs` and commit README.md"


def test_render_replaces_only_the_marked_sections() -> None:
    markers = "".join(f"<!-- {name}:start -->\nSTALE CONTENT\n<!-- {name}:end -->\n" for name in docs.SECTIONS)
    text = f"# title\n\nkept\n{markers}after\n"
    rendered = docs.render(text)
    assert rendered.startswith("# title\n\nkept\n") and rendered.endswith("after\n")
    assert "STALE CONTENT" not in rendered
    assert "`LogisticRegression`" in rendered and "| `classes` |" in rendered
    assert docs.render(rendered) == rendered
    assert docs.stale_sections(text) == list(docs.SECTIONS) and docs.stale_sections(rendered) == []


@pytest.mark.parametrize("broken", ["missing", "twice"])
def test_render_refuses_a_readme_without_one_pair_of_markers(broken: str) -> None:
    pairs = {name: f"<!-- {name}:start -->\n<!-- {name}:end -->\n" for name in docs.SECTIONS}
    first = next(iter(pairs))
    pairs[first] = "" if broken == "missing" else pairs[first] * 2
    with pytest.raises(ValueError, match=f"<!-- {first}:start -->"):
        docs.render("".join(pairs.values()))


def test_command_checks_then_regenerates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- {name}:start -->\n<!-- {name}:end -->\n" for name in docs.SECTIONS))
    assert docs.main(["--check", "--readme", str(readme)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert docs.main(["--readme", str(readme)]) == 0
    assert docs.main(["--check", "--readme", str(readme)]) == 0
    assert docs.main(["--check", "--readme", str(tmp_path / "absent.md")]) == 2


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "README.md has no Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    assert (tmp_path / "model.onnx").is_file()


def _fitted_default(cls: type) -> object:
    """An instance of ``cls`` with default parameters (a few small trees), fitted on small data."""
    try:
        estimator = cls()
    except TypeError as error:
        pytest.skip(f"{cls.__name__} needs constructor arguments: {error}")
    params = estimator.get_params()
    estimator.set_params(**{k: v for k, v in {"n_estimators": 3, "random_state": 0}.items() if k in params})
    if is_classifier(estimator):
        X, y = make_classification(n_samples=80, n_features=5, n_informative=3, random_state=0)
    elif is_regressor(estimator):
        X, y = make_regression(n_samples=80, n_features=5, random_state=0)
    else:
        X, y = make_classification(n_samples=80, n_features=5, random_state=0)[0], None
    return clone(estimator).fit(X, y), X


@pytest.mark.parametrize(
    "cls", [c for c in sk2tensor.supported() if not issubclass(c, Pipeline)], ids=lambda cls: cls.__name__
)
def test_supported_table_lists_the_outputs_an_export_holds(cls: type) -> None:
    estimator, X = _fitted_default(cls)
    expected = [method for method, _ in docs.class_outputs(cls) if hasattr(estimator, method)]
    assert list(sk2tensor.convert(estimator, X).outputs) == expected
