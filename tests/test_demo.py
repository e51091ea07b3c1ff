"""`make demo` (python -m sk2tensor.demo): a small run end to end, and failures as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.ensemble import RandomForestClassifier

import sk2tensor
from sk2tensor import demo


@pytest.mark.skipif(
    RandomForestClassifier not in sk2tensor.supported(), reason="the RandomForestClassifier converter has not landed"
)
def test_demo_exports_validates_and_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--rows", "3000", "--repeats", "1", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    names = list(demo.build_models())
    for name in names:
        assert (tmp_path / f"{name}.onnx").is_file()
        row = next(line for line in out.splitlines() if line.startswith(name) and "3,000" in line)
        assert row.endswith("%")
    for model in names:
        compiled = sk2tensor.load(tmp_path / f"{model}.onnx", device="cpu")
        assert list(compiled.classes) == ["benign", "malignant"]


def test_demo_failure_is_one_line_and_exit_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_convert(*args: object, **kwargs: object) -> None:
        raise sk2tensor.ConversionError("first line\n  second line")

    monkeypatch.setattr(sk2tensor, "convert", failing_convert)
    assert demo.main(["--rows", "10", "--repeats", "1", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "sk2tensor demo failed: ConversionError: first line second line\n"


def test_timing_rows_resample_with_noise() -> None:
    source = demo.load_data()[1]
    rows = demo.timing_rows(source, 1000)
    assert rows.shape == (1000, source.shape[1]) and rows.dtype.name == "float32" and rows.flags.c_contiguous
    assert (abs(rows.mean(axis=0) - source.mean(axis=0)) < 0.5 * source.std(axis=0)).all()
