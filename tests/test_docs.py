"""README.md's generated sections are current, its Python example runs, and its output lists are true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sk2tensor
from sk2tensor import docs
from tests.cases import CASES, Case

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


def _case_of(cls: type) -> Case:
    case = next((case for case in CASES if type(case.make()) is cls), None)
    if case is None:
        pytest.skip(f"{cls.__name__} has no row in tests.cases.CASES")
    return case


@pytest.mark.parametrize(
    "cls",
    [c for c in docs.documented_classes() if not issubclass(c, tuple(docs.WRAPPERS))],
    ids=lambda cls: cls.__name__,
)
def test_supported_table_lists_the_outputs_an_export_holds(cls: type) -> None:
    estimator, data = _case_of(cls).fitted()
    compiled = sk2tensor.convert(estimator, data.X, validate=False)
    documented = [method for method, _ in docs.class_outputs(cls) if hasattr(estimator, method)]
    assert list(compiled.outputs) == documented, (
        f"the export of {cls.__name__} holds {list(compiled.outputs)}, the README table says {documented}: "
        f"update NOT_EXPORTED in sk2tensor/docs.py (or the converter), then run `make docs`"
    )


def test_not_exported_names_supported_classes_and_their_methods() -> None:
    classes = {docs.class_path(cls): cls for cls in docs.documented_classes()}
    for path, methods in docs.NOT_EXPORTED.items():
        assert path in classes, f"NOT_EXPORTED names {path}, which sk2tensor does not convert"
        assert all(hasattr(classes[path], method) for method in methods), path
