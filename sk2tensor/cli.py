"""The ``sk2tensor`` command line: ``export``, ``inspect`` and ``list``.

Every failure prints one line, ``error: ...``, on stderr and exits with status 1 (2 for a command line
that does not parse); set ``SK2TENSOR_DEBUG=1`` to see the traceback of an unexpected error instead.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

import sk2tensor
from sk2tensor import metadata as md
from sk2tensor.errors import ModelFileError, NotFittedError, Sk2TensorError
from sk2tensor.loading import load_data, load_estimator, match_columns
from sk2tensor.registry import STRATEGIES

PROG = "sk2tensor"
DTYPES = ("float32", "float64")
#: Choices of --strategy and --dtype (Enums: what every typer version turns into a choice).
Strategy = Enum("Strategy", {name: name for name in STRATEGIES}, type=str)
Dtype = Enum("Dtype", {name: name for name in DTYPES}, type=str)
_DEBUG_ENV = "SK2TENSOR_DEBUG"


# ----------------------------------------------------------------------------------------- errors
def one_line(message: str) -> str:
    """``message`` on one line: its lines stripped, joined with ``"; "`` (a space after a colon)."""
    parts = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = ""
    for part in parts:
        text += part if not text else (" " if text.endswith(":") else "; ") + part
    return text


def _describe(error: BaseException) -> str:
    if isinstance(error, Sk2TensorError | NotFittedError):
        return one_line(str(error)) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None:
        return one_line(f"{error.filename}: {error.strerror or error}")
    message = one_line(str(error))
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _is_usage_error(error: BaseException) -> bool:
    """A click/typer exception meant for the user (usage errors, bad parameters): duck-typed, since typer
    vendors click in some versions and depends on it in others."""
    return callable(getattr(error, "format_message", None)) and isinstance(getattr(error, "exit_code", None), int)


def _usage_message(error: Any) -> str:
    message = one_line(error.format_message())
    ctx = getattr(error, "ctx", None)
    if ctx is not None and getattr(error, "exit_code", 1) == 2:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """Warnings on one line each, like errors: ``warning: message (Category)``."""
    typer.echo(f"warning: {one_line(str(message))} ({category.__name__})", err=True)


class _PlainErrorsGroup(TyperGroup):
    """The root command: turns every exception into one ``error: ...`` line on stderr and an exit status."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, *a: Any, **kw: Any
    ) -> Any:
        standalone = kw.pop("standalone_mode", True)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                code = super().main(args, prog_name, *a, standalone_mode=False, **kw)
            code = code if isinstance(code, int) else 0
        except Exception as error:
            code = self._report(error)
        if not standalone:
            return code
        sys.exit(code)

    @staticmethod
    def _report(error: Exception) -> int:
        if type(error).__name__ == "NoArgsIsHelpError":
            typer.echo(error.format_message(), err=True)  # type: ignore[attr-defined]
            return 2
        if type(error).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            return 1
        if isinstance(error, BrokenPipeError):  # stdout closed early (`sk2tensor inspect m.onnx | head`)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (so that the interpreter's final flush is quiet)
            return 1
        if _is_usage_error(error):
            typer.echo(f"error: {_usage_message(error)}", err=True)
            return int(error.exit_code)  # type: ignore[attr-defined]
        if os.environ.get(_DEBUG_ENV) and not isinstance(error, Sk2TensorError | NotFittedError):
            raise error
        typer.echo(f"error: {_describe(error)}", err=True)
        return 1


app = typer.Typer(
    name=PROG,
    cls=_PlainErrorsGroup,
    help="Compile fitted scikit-learn models into portable ONNX graphs of plain tensor operations.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {sk2tensor.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compile fitted scikit-learn models into portable ONNX graphs of plain tensor operations."""


# ----------------------------------------------------------------------------------------- export
@app.command()
def export(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Fitted estimator: .skops (or .joblib/.pkl with --trust).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="OUT", help="Where to write the .onnx file.")],
    validate: Annotated[
        Path | None,
        typer.Option(
            "--validate",
            metavar="DATA",
            help="Rows to validate the export on (.npy, .csv or .parquet); without it, generated rows.",
        ),
    ] = None,
    strategy: Annotated[Strategy, typer.Option(help="Tree lowering strategy.")] = Strategy.auto,
    dtype: Annotated[Dtype, typer.Option(help="Input and compute type.")] = Dtype.float32,
    opset: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="ONNX opset (default: the lowest that holds the ops used)."),
    ] = None,
    n_features: Annotated[
        int | None,
        typer.Option("--n-features", min=1, metavar="N", help="Input width, for estimators that do not record it."),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load pickles and types skops does not trust by default (this can run code)."),
    ] = False,
) -> None:
    """Convert a fitted estimator to ONNX, validate it against sklearn, and save it."""
    for source in (model, validate):
        if source is not None and output.resolve() == source.resolve():
            raise ModelFileError(f"refusing to overwrite {source} with the exported model: choose another --output")
    estimator = load_estimator(model, trust=trust)
    rows = None
    if validate is not None:
        rows, columns = load_data(validate)
        rows = match_columns(rows, columns, getattr(estimator, "feature_names_in_", None))
    compiled = sk2tensor.convert(
        estimator,
        rows,
        n_features=n_features,
        strategy=strategy.value,
        dtype=dtype.value,
        opset=opset,
        validate=True,
    )
    try:
        path = compiled.save(output)
    except OSError as error:
        raise ModelFileError(f"cannot write {output}: {error.strerror or error}") from None
    for line in _export_summary(compiled, path, validate):
        typer.echo(line)


def _export_summary(compiled: sk2tensor.CompiledModel, path: Path, data: Path | None) -> Iterator[str]:
    name = compiled.estimator_class.rsplit(".", 1)[-1]
    yield f"exported {name} to {path} ({_size(path.stat().st_size)})"
    yield f"  input: {compiled.input_name} {compiled.input_dtype.name} [batch, {compiled.n_features}]"
    yield f"  outputs: {', '.join(compiled.outputs)}"
    if compiled.classes is not None:
        yield f"  classes: {', '.join(str(c) for c in compiled.classes.tolist())}"
    if compiled.strategy:
        yield "  strategy: " + ", ".join(f"{step}={how}" for step, how in compiled.strategy.items())
    source = f"rows of {data}" if data is not None else "generated rows (pass --validate DATA to use your own)"
    yield f"  validated on {source}"
    if compiled.validation is not None:
        yield from compiled.validation.summary().splitlines()


# ----------------------------------------------------------------------------------------- inspect
@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(metavar="FILE", help="An .onnx file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Describe an .onnx file: inputs, outputs, metadata, operator counts, size, opset (no runtime needed)."""
    info = describe_onnx(model)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for line in _inspect_text(info):
        typer.echo(line)


def _read_onnx(path: Path) -> Any:
    import onnx

    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not an ONNX file")
    if not path.is_file():
        raise ModelFileError(f"no such ONNX file: {path}")
    try:
        model = onnx.load_model(path, load_external_data=False)
    except Exception as error:  # protobuf raises several unrelated types for a damaged file
        raise ModelFileError(f"{path} is not a readable ONNX model ({_describe(error)})") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelFileError(f"{path} is not a readable ONNX model (it holds no graph)")
    return model


def _value_info(value: Any) -> dict[str, Any]:
    import onnx

    tensor = value.type.tensor_type
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in tensor.shape.dim]
    return {"name": value.name, "dtype": dtype, "shape": shape}


def _op_counts(graph: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for node in graph.node:
        counts[f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
        for attribute in node.attribute:
            subgraphs = [*attribute.graphs, attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for subgraph in subgraphs:
                counts.update(_op_counts(subgraph))
    return counts


def _metadata_value(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict | list) else value


def describe_onnx(path: Path) -> dict[str, Any]:
    """What ``sk2tensor inspect`` shows, as a JSON-ready dict; reads the file alone (no ONNX Runtime)."""
    path = Path(path)
    model = _read_onnx(path)
    counts = _op_counts(model.graph)
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {(entry.domain or "ai.onnx"): entry.version for entry in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_value_info(v) for v in model.graph.input],
        "outputs": [_value_info(v) for v in model.graph.output],
        "metadata": {p.key: _metadata_value(p.value) for p in model.metadata_props},
        "nodes": sum(counts.values()),
        "initializers": len(model.graph.initializer),
        "op_counts": dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
    }


def _shape(shape: list[Any] | None) -> str:
    return "?" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _inspect_text(info: dict[str, Any]) -> Iterator[str]:
    yield f"file: {info['file']} ({_size(info['size_bytes'])})"
    opsets = ", ".join(f"{domain} {version}" for domain, version in info["opset"].items())
    yield f"ir version: {info['ir_version']}, opset: {opsets}"
    if info["producer"]:
        yield f"producer: {info['producer']}"
    for kind in ("inputs", "outputs"):
        yield f"{kind}:"
        for value in info[kind]:
            yield f"  {value['name']}: {value['dtype']} {_shape(value['shape'])}"
    yield "metadata:"
    if not info["metadata"]:
        yield "  (none)"
    for key, value in info["metadata"].items():
        if key == md.VALIDATION and isinstance(value, dict):
            yield from _validation_lines(value)
        elif isinstance(value, str):
            yield f"  {key}: {value}"
        else:
            yield f"  {key}: {json.dumps(value)}"
    yield f"operators ({info['nodes']} nodes, {info['initializers']} initializers):"
    width = max((len(op) for op in info["op_counts"]), default=0)
    for op, count in info["op_counts"].items():
        yield f"  {op:<{width}}  {count}"


def _validation_lines(report: dict[str, Any]) -> Iterator[str]:
    status = "passed" if report.get("passed") else "FAILED"
    yield f"  {md.VALIDATION}: {status} on {report.get('rows')} rows ({report.get('dtype')})"
    for output in report.get("outputs", []):
        if output.get("label_agreement") is not None:
            yield f"    {output['name']}: label agreement {output['label_agreement']:.4%}"
        else:
            diff, tolerance = output["max_abs_diff"], output["tolerance"]
            yield f"    {output['name']}: max abs diff {diff:.3g} (tolerance {tolerance:.3g})"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# ----------------------------------------------------------------------------------------- list
@app.command("list")
def list_supported() -> None:
    """List the scikit-learn estimators sk2tensor converts."""
    for cls in sk2tensor.supported():
        module = cls.__module__
        public = module.split("._")[0] if module.startswith("sklearn.") else module
        typer.echo(f"{public}.{cls.__name__}")


def main() -> NoReturn:
    """Console-script entry point (``sk2tensor``)."""
    app(prog_name=PROG)
    sys.exit(0)  # app() exits on its own; this line only satisfies the type


if __name__ == "__main__":
    main()
