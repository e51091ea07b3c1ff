"""CompiledModel: an exported graph, its ONNX Runtime session, and sklearn-shaped prediction methods.

This module runs files; it needs no converter and works from the model's metadata alone.

Models with string columns (metadata ``inputs``) are fed a dict: the numeric columns as the ``input`` matrix and
each string column as an object array ``[batch, 1]``, a missing value (None, NaN, ``pd.NA``) replaced by the
string of metadata ``missing_strings`` that stands for it. A value that is neither a string nor missing is
refused (sklearn would treat it as an unknown category, which is more likely a column read with the wrong type,
such as ``pd.read_csv`` turning ``"1"``, ``"2"`` into integers). The string nodes run on ONNX Runtime's CPU
provider (CUDA has no string kernels): a CUDA session of such a model names the CPU provider too, as every
session here does.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from sk2tensor import metadata as md
from sk2tensor.errors import InputError, ModelFileError, RuntimeTooOldError, RuntimeUnavailableError
from sk2tensor.versions import OLDEST_ONNXRUNTIME, release

if TYPE_CHECKING:
    from sk2tensor.validate import ValidationReport

DEVICES = ("cpu", "cuda", "auto")
#: Rows per ``session.run`` on the CPU for graphs without trees: cache-sized chunks beat one huge batch, and
#: too small ones pay the per-run overhead (measured on 100,000 rows, 2 cores: scaler + logistic regression
#: 14.8 / 7.9 / 7.6 / 9.1 ms and a 64-unit MLP 19.1 / 15.1 / 20.6 / 24.5 ms at 1,024 / 4,096 / 16,384 / 65,536).
DEFAULT_CHUNK_ROWS = 4096
#: Largest dense chunk (bytes) made of sparse rows, by CompiledModel for a dense-input graph or inside a sparse-input
#: graph whose step needs dense rows: 4,096 rows of 2^20 columns would otherwise take 16 GiB per chunk.
DENSE_CHUNK_BYTES = 64 * 1024**2
#: Tree graphs carry ``[trees, rows]`` state tensors; a chunk holds about this many elements of them (512 KiB of
#: int32 each), so that an operator's inputs and output stay in the core's cache. On a 2-core AMD EPYC
#: (2026-11-23; 100,000 rows, two threads, chunks of 2^17 / 2^18 / 2^19 elements interleaved, median of 10-12
#: calls) 100 trees of depth 8 ran 1.14 / 1.15-1.16 / 1x; on one thread the three sizes were within 3%. On a
#: 2-core Intel Xeon (2 MiB of L2 per core, 2026-12-07) 2^17 ran faster than 2^18 on every 100-tree model, paired
#: ratios of 16 interleaved calls on 100,000 rows, two threads: random forest 100 x 8 1.03x, XGBoost 100 x 6 1.04x,
#: and in a first sweep of four sizes gradient boosting 100 x 3 1.11x, CatBoost 100 x 6 1.04x (a 1,024-row chunk
#: on one thread: 2.5-2.7 against 2.9-3.9 us a row at 2,621 rows); 500 trees of depth 8 (262 against 524 rows)
#: were level.
TREE_STATE_ELEMENTS = 1 << 17
#: Graphs with a ``tree_traversal`` step take twice as many: their node tables (``trees x nodes``) can be the
#: larger working set, and bigger chunks reuse each table line for more rows. On the Intel Xeon above, 2^18 ran
#: faster than 2^19: hist gradient boosting 100 iterations 1.05x, a random forest of unlimited depth 1.04x
#: (paired, 16 calls), LightGBM 100 trees of 31 leaves 1.11x (first sweep); on the AMD EPYC the random forest
#: of unlimited depth ran 1.02-1.12x faster at 2^18 than at 2^19. Extra trees of unlimited depth (40,000 nodes
#: a tree) take their chunk from the rule below.
TRAVERSAL_STATE_ELEMENTS = 1 << 18
#: Where the widest traversed tree has more nodes than twice those rows, a chunk takes half its nodes in rows, up to
#: :data:`MAX_STATE_ELEMENTS` (16 MiB per int32 state tensor): the extra trees above (40,000 nodes per tree) ran
#: 1.30x faster in chunks of 2^21 elements (20,971 rows) than of 2^19, and the same at 2^22 (median of 5-6
#: calls on 100,000 rows, two threads), while the random forest of unlimited depth (3,300 nodes) ran 1.31x
#: slower at 2^21 than at 2^19. Since the traversal runs its trees in cache-sized parts
#: (``TRAVERSAL_CACHE_BYTES`` in ``sk2tensor/converters/trees/lowering.py``), the extra trees run the same in
#: chunks of 5,242 to 19,999 rows (within noise) and 1.3x slower at 2,621: the rule stays.
MAX_STATE_ELEMENTS = 1 << 22
#: Rows per ``session.run`` on CUDA: the GPU wants the largest batch that fits; a chunk bounds its memory.
CUDA_CHUNK_ROWS = 1 << 20
#: Fewest rows worth handing to a second thread: below it the thread hand-off costs more than it saves.
MIN_PARALLEL_ROWS = 256
#: The same for a model that tokenizes documents (metadata ``text_inputs``), whose rows cost ~25-50 us each, and
#: its rows per ``session.run``. tf-idf 1-2 grams -> logistic regression on two threads (2-core AMD EPYC, best
#: median of 3 interleaved rounds): 100 synthetic reviews 10.6 ms with the general rules, 5.6 ms with these;
#: 400: 35.1 -> 18.2 ms; 100 / 400 / 10,000 dataset-description paragraphs 8.0 / 25.1 / 321 ms -> 5.4 / 15.2 /
#: 230 ms; chunks of 256 documents ran slower at 2,000 and 10,000 (81 and 339 ms against 68 and 288 for the
#: synthetic reviews), and a threshold of 16 was within noise of 32 at 32 and 50 documents.
TEXT_MIN_PARALLEL_ROWS = 32
TEXT_CHUNK_ROWS = 1024
#: Above this protobuf size a model is saved with its tensors in an external data file.
_EXTERNAL_DATA_BYTES = 1_800_000_000
_INSTALL_HINT = "install the extra 'sk2tensor[cpu]' (or 'sk2tensor[gpu]' for CUDA; never both)"


def _session_workarounds(ort: Any) -> dict[str, Any]:
    """Extra ``InferenceSession`` arguments the installed onnxruntime needs to compute as the graph says.

    onnxruntime 1.28-1.31 fold a Mul or Div by a scalar constant next to a MatMul into FusedMatMul, whose
    ``alpha`` attribute is a float32: in a float64 computation (the kernels of SVC, KernelPCA, Nystroem...) the
    scale loses its low bits, a relative error near 1e-8 where float64 graphs promise ~1e-15. 1.32 no longer
    fuses double MatMuls; on the releases before it that fusion is switched off.
    """
    if release(ort.__version__) < (1, 32):
        return {"disabled_optimizers": ["MatMulScaleFusion"]}
    return {}


def _runtime_too_old(version: str, model: onnx.ModelProto, message: str) -> RuntimeTooOldError | None:
    """A clear error for an onnxruntime that cannot load ``model`` because it is older than the graph, or None
    when ``message`` (onnxruntime's) says something else."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    found = re.search(r"Could not find an implementation for (\S+) node", message)
    if found:
        return RuntimeTooOldError(
            f"onnxruntime {version} has no kernel for {found.group(1)} on this graph's types (opset {opset}): "
            f"upgrade onnxruntime (sk2tensor is tested with onnxruntime >= {'.'.join(map(str, OLDEST_ONNXRUNTIME))})"
        )
    if "IR version" in message or "opset" in message.lower():
        return RuntimeTooOldError(
            f"onnxruntime {version} cannot read this graph (IR version {model.ir_version}, opset {opset}): "
            "export it with a lower opset (convert(..., opset=N), `sk2tensor export --opset N`; by default "
            "sk2tensor picks the lowest opset that holds the graph's operators) or upgrade onnxruntime"
        )
    return None


def onnxruntime() -> Any:
    """The onnxruntime module, or a clear error saying which extra to install."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeUnavailableError(f"onnxruntime is not installed: {_INSTALL_HINT}.") from None
    return ort


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"``: ``"auto"`` is CUDA when the installed onnxruntime offers it."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return device
    has_cuda = "CUDAExecutionProvider" in onnxruntime().get_available_providers()
    if device == "cuda" and not has_cuda:
        raise RuntimeUnavailableError(
            "device='cuda' needs onnxruntime-gpu with a visible GPU; the installed onnxruntime offers "
            f"{onnxruntime().get_available_providers()} (install 'sk2tensor[gpu]' instead of 'sk2tensor[cpu]')."
        )
    return "cuda" if has_cuda else "cpu"


def providers_for(device: str) -> list[str]:
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]


def cpu_chunk_rows(n_trees: int, traversal_nodes: int = 0, documents: bool = False) -> int:
    """Rows per CPU ``session.run`` for a graph of ``n_trees`` trees (at most :data:`TEXT_CHUNK_ROWS` for a
    graph that tokenizes ``documents``).

    :data:`TREE_STATE_ELEMENTS` over the tree count, within 256-8192. With a ``tree_traversal`` step (its widest
    tree has ``traversal_nodes`` > 0 nodes): :data:`TRAVERSAL_STATE_ELEMENTS` over the tree count (within
    256-8192), or half of ``traversal_nodes`` when that is more (up to :data:`MAX_STATE_ELEMENTS` over the tree
    count). A graph without trees gets :data:`DEFAULT_CHUNK_ROWS`.
    """
    if documents:
        return min(TEXT_CHUNK_ROWS, cpu_chunk_rows(n_trees, traversal_nodes))
    if n_trees <= 0:
        return DEFAULT_CHUNK_ROWS
    if traversal_nodes > 0:
        rows = min(8192, max(256, TRAVERSAL_STATE_ELEMENTS // n_trees))
        return int(max(rows, min(traversal_nodes // 2, MAX_STATE_ELEMENTS // n_trees)))
    return int(min(8192, max(256, TREE_STATE_ELEMENTS // n_trees)))


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_POOL_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    """One shared pool per width: sessions release the GIL while they run, so chunks run in parallel."""
    with _POOL_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="sk2tensor")
        return pool


class CompiledModel:
    """An exported model with the prediction methods of the estimator it came from.

    Parameters
    ----------
    model:
        The ONNX model, as written by :func:`sk2tensor.convert`.
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"``; the ONNX Runtime session is created on first use.
    validation:
        The report of the comparison with sklearn made at export, when there was one.
    chunk_rows:
        Rows per ONNX Runtime call for large inputs (default :data:`DEFAULT_CHUNK_ROWS` on the CPU,
        :data:`CUDA_CHUNK_ROWS` on CUDA).
    threads:
        CPU threads for one prediction (default: every CPU this process may use). On the CPU each
        ``session.run`` is single-threaded and chunks run concurrently, one per thread: measured faster than
        ONNX Runtime's intra-op threads, whose per-operator fork/join costs more than the small tree
        operators take (``benchmarks/README.md``).
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        *,
        device: str = "cpu",
        validation: ValidationReport | None = None,
        chunk_rows: int | None = None,
        threads: int | None = None,
    ) -> None:
        props = {p.key: p.value for p in model.metadata_props}
        if props.get(md.PRODUCER) != "sk2tensor":
            raise ModelFileError("this ONNX model was not exported by sk2tensor (it has no sk2tensor metadata)")
        self.onnx = model
        self.metadata: dict[str, str] = props
        self.requested_device = device
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        self.validation = validation
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        self._cpu_chunk_rows = int(props.get(md.CHUNK_ROWS, DEFAULT_CHUNK_ROWS))
        self.max_chunk_rows = int(props[md.MAX_CHUNK_ROWS]) if md.MAX_CHUNK_ROWS in props else None
        self.threads = cpu_count() if threads is None else max(1, int(threads))
        self.n_features = int(props[md.N_FEATURES])
        self.input_name = props.get(md.INPUT_NAME, "input")
        self.input_dtype = np.dtype(props[md.INPUT_DTYPE])
        self.outputs: tuple[str, ...] = tuple(json.loads(props[md.OUTPUTS]))
        self.output_dtypes = {k: np.dtype(v) for k, v in json.loads(props.get(md.OUTPUT_DTYPES, "{}")).items()}
        self.single_row_vectors = frozenset(json.loads(props.get(md.SINGLE_ROW_VECTORS, "[]")))
        self.split_outputs: dict[str, list[int]] = json.loads(props.get(md.SPLIT_OUTPUTS, "{}"))
        names = props.get(md.FEATURE_NAMES)
        self.feature_names: list[str] | None = json.loads(names) if names is not None else None
        #: The graph inputs (metadata ``inputs``); None for a model with the single numeric input.
        self.inputs: list[dict[str, Any]] | None = json.loads(props[md.INPUTS]) if md.INPUTS in props else None
        #: ``(input name, column position)`` of each string column, in input order (empty without strings).
        self.string_inputs: list[tuple[str, int]] = [
            (entry["name"], int(entry["position"])) for entry in self.inputs or [] if entry["kind"] == "string"
        ]
        #: String inputs text vectorizers tokenize -> ``(lowercase, strip_accents)`` of each.
        self.text_inputs: dict[str, list[tuple[bool, str | None]]] = {
            name: [(bool(v["lowercase"]), v.get("strip_accents")) for v in vectorizers]
            for name, vectorizers in json.loads(props.get(md.TEXT_INPUTS, "{}")).items()
        }
        #: Whether the model takes documents (a text vectorizer first): one sequence of strings, not a table.
        self.takes_documents = any(entry.get("documents", False) for entry in self.inputs or [])
        #: Positions of the columns the numeric input holds, in order.
        self.numeric_positions: list[int] = next(
            (list(entry["positions"]) for entry in self.inputs or [] if entry["kind"] == "numeric"),
            [] if self.inputs is not None else list(range(self.n_features)),
        )
        missing = json.loads(props.get(md.MISSING_STRINGS, "{}"))
        self.missing_strings = {"nan": missing.get("nan", md.MISSING_NAN), "none": missing.get("none", md.MISSING_NONE)}
        self.classes: np.ndarray | None = None
        if md.CLASSES in props:
            self.classes = md.decode_classes(props[md.CLASSES], props[md.CLASSES_DTYPE])
        margin = json.loads(props[md.BASE_MARGIN]) if md.BASE_MARGIN in props else None
        #: ``(name, width)`` of the per-row starting margin input (XGBoost exports with ``base_margin``), else None.
        self.base_margin_name: str | None = None if margin is None else str(margin["name"])
        self.base_margin_width: int | None = None if margin is None else int(margin["width"])
        sparse = json.loads(props[md.SPARSE_INPUT]) if md.SPARSE_INPUT in props else None
        #: ``(indptr, indices, values)`` input names of a model that takes CSR rows (``sparse_input=True``), else None.
        self.sparse_inputs: tuple[str, str, str] | None = (
            None if sparse is None else (str(sparse["indptr"]), str(sparse["indices"]), str(sparse["values"]))
        )
        self.predict_output = props.get(md.PREDICT_OUTPUT, "label")
        self.strategy: dict[str, str] = json.loads(props.get(md.STRATEGY, "{}"))
        self.estimator_class = props.get(md.ESTIMATOR_CLASS, "")
        self._session: Any = None
        self._source_path: str | None = None
        self._device: str | None = None

    # ----------------------------------------------------------------- session
    @property
    def device(self) -> str:
        """The device predictions run on (``"cpu"`` or ``"cuda"``), resolved on first use."""
        if self._device is None:
            self._device = resolve_device(self.requested_device)
        return self._device

    @property
    def session(self) -> Any:
        """The ONNX Runtime inference session (created once, on first use)."""
        if self._session is None:
            ort = onnxruntime()
            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.device == "cpu":
                # Parallelism comes from running chunks concurrently (see `threads`), not inside a run.
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # A model loaded with external data is read from its file: protobuf cannot serialize past 2 GB.
            source = self._source_path or self.onnx.SerializeToString()
            try:
                self._session = ort.InferenceSession(
                    source, sess_options=options, providers=providers_for(self.device), **_session_workarounds(ort)
                )
            except Exception as error:  # onnxruntime raises its own exception types, one per status code
                too_old = _runtime_too_old(ort.__version__, self.onnx, str(error))
                if too_old is None:
                    raise
                raise too_old from error
        return self._session

    # ----------------------------------------------------------------- prediction methods
    def __getattr__(self, name: str) -> Any:
        # Only the methods the source estimator has exist, so hasattr() answers as it would on sklearn.
        if name in md.METHODS:
            outputs = self.__dict__.get("outputs", ())
            if name in outputs:
                return partial(self.run, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.outputs))

    def run(self, method: str, X: Any, *, base_margin: Any = None) -> np.ndarray:
        """The output named ``method`` for the rows of ``X``, shaped and typed as sklearn returns it;
        ``base_margin`` for a model exported with one (XGBoost's per-row starting margin)."""
        if method not in self.outputs:
            raise AttributeError(f"this model has no {method!r} output; it has {list(self.outputs)}")
        if self.base_margin_width is not None or base_margin is not None:
            return self._as_sklearn(method, self._run_outputs([method], X, base_margin)[0])
        if (
            type(X) is np.ndarray
            and X.dtype == self.input_dtype
            and X.ndim == 2
            and 0 < X.shape[0] <= self._one_call_rows
            and X.shape[1] == self.n_features
            and X.flags.c_contiguous
            and not self.string_inputs
            and self.sparse_inputs is None
        ):
            # The array the session takes as it is, and few enough rows for one call: what prepare_input and the
            # chunking would do, without their few microseconds (a tenth of a small forest's one-row call).
            return self._as_sklearn(method, self.session.run([method], {self.input_name: X})[0])
        return self._as_sklearn(method, self._run_outputs([method], X)[0])

    def run_many(self, methods: Any, X: Any, *, base_margin: Any = None) -> dict[str, np.ndarray]:
        """Several outputs for the rows of ``X`` from one pass over them: ONNX Runtime computes every output of
        the graph on each run whichever are asked for, so asking for them together costs one run, not several."""
        methods = list(dict.fromkeys(methods))
        for method in methods:
            if method not in self.outputs:
                raise AttributeError(f"this model has no {method!r} output; it has {list(self.outputs)}")
        results = self._run_outputs(methods, X, base_margin)
        return {method: self._as_sklearn(method, result) for method, result in zip(methods, results, strict=True)}

    def margin_feed(self, base_margin: Any, n_rows: int) -> np.ndarray:
        """``base_margin`` as the ``[n_rows, width]`` array of the input dtype this model's margin input takes."""
        if self.base_margin_width is None:
            raise InputError("this model takes no base_margin (only XGBoost models exported with base_margin do)")
        if base_margin is None:
            raise InputError(
                "this model was exported with a base_margin input: pass base_margin=, one value per row "
                f"({self.base_margin_width} per row)"
            )
        margin = margin_rows(base_margin, n_rows, self.base_margin_width)
        return np.ascontiguousarray(margin, dtype=self.input_dtype)

    def _run_outputs(self, methods: list[str], X: Any, base_margin: Any = None) -> list[np.ndarray]:
        """The graph's raw ``methods`` outputs for ``X`` (any accepted input), in chunks."""
        if self.sparse_inputs is not None:
            if base_margin is not None:
                raise InputError("this model takes no base_margin (only XGBoost models exported with base_margin do)")
            return self._run_csr(methods, X)
        if is_sparse(X):
            return self._run_sparse(methods, X, base_margin)
        prepared = self.prepare_input(X)
        feeds = prepared if isinstance(prepared, dict) else {self.input_name: prepared}
        if self.base_margin_width is not None or base_margin is not None:
            margin = self.margin_feed(base_margin, len(next(iter(feeds.values()))))  # refuses a stray base_margin
            feeds[str(self.base_margin_name)] = margin
        if len(next(iter(feeds.values()))) == 0:
            # Some kernels reject empty tensors: run one row of zeros and keep none of its result.
            one = {
                name: np.full((1, 1), self.missing_strings["nan"], dtype=object)
                if value.dtype == object
                else np.zeros((1, value.shape[1]), self.input_dtype)
                for name, value in feeds.items()
            }
            return [result[:0] for result in self._run_feeds(methods, one)]
        return self._run_feeds(methods, feeds)

    def _run_sparse(self, methods: list[str], X: Any, base_margin: Any = None) -> list[np.ndarray]:
        """A scipy sparse ``X``: densified one chunk of rows at a time, so memory stays at a chunk's dense size."""
        if self.string_inputs:
            raise InputError("this model has string columns: pass a DataFrame or a 2-D array, not a sparse matrix")
        self._check_matrix(X)
        if X.shape[0] == 0:
            return self._run_outputs(methods, np.zeros((0, self.n_features), self.input_dtype), base_margin)
        rows = X.tocsr()
        margin = None
        if self.base_margin_width is not None or base_margin is not None:
            margin = self.margin_feed(base_margin, rows.shape[0])

        def run_rows(start: int, stop: int) -> list[np.ndarray]:
            dense = np.ascontiguousarray(rows[start:stop].toarray(), dtype=self.input_dtype)
            feeds = {self.input_name: dense}
            if margin is not None:
                feeds[str(self.base_margin_name)] = margin[start:stop]
            return self.session.run(methods, feeds)

        return self._chunked(rows.shape[0], run_rows, dense_chunk_rows(self.n_features, self.input_dtype))

    def csr_rows(self, X: Any) -> Any:
        """``X`` (a sparse matrix, array or DataFrame) as the scipy CSR matrix of the input dtype a model exported
        with ``sparse_input=True`` takes; a sparse ``X`` keeps its stored entries and their order."""
        from scipy import sparse

        if not is_sparse(X):
            X = self.prepare_input(X)
        self._check_matrix(X)
        # A CSR matrix of the input dtype is used as it is: no copy of the rows on each call.
        rows = X.tocsr() if is_sparse(X) else sparse.csr_matrix(X)
        return rows.astype(self.input_dtype, copy=False)

    def _run_csr(self, methods: list[str], X: Any) -> list[np.ndarray]:
        """A model that takes CSR rows: each chunk of rows as its three arrays (``indptr`` from 0)."""
        rows = self.csr_rows(X)
        indptr_name, indices_name, values_name = self.sparse_inputs or ("", "", "")
        indptr = rows.indptr.astype(np.int64)

        def run_rows(start: int, stop: int) -> list[np.ndarray]:
            first, last = int(indptr[start]), int(indptr[stop])
            feeds = {
                indptr_name: indptr[start : stop + 1] - first,
                indices_name: rows.indices[first:last].astype(np.int64),
                values_name: rows.data[first:last],
            }
            return self.session.run(methods, feeds)

        if rows.shape[0] == 0:
            return run_rows(0, 0)
        return self._chunked(rows.shape[0], run_rows)

    def _run_feeds(self, methods: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        run = self.session.run
        n = len(next(iter(feeds.values())))

        def run_rows(start: int, stop: int) -> list[np.ndarray]:
            # Row slices are views: no input is copied.
            return run(methods, {name: value[start:stop] for name, value in feeds.items()})

        return self._chunked(n, run_rows)

    def _chunk_rows(self) -> int:
        """Rows per ``session.run``: the chunk size for the device, within the model's bound."""
        if self.device == "cuda":
            return min(self.chunk_rows or CUDA_CHUNK_ROWS, self.max_chunk_rows or CUDA_CHUNK_ROWS)
        return min(self.chunk_rows or self._cpu_chunk_rows, self.max_chunk_rows or self._cpu_chunk_rows)

    @property
    def _one_call_rows(self) -> int:
        """Most rows that :meth:`_chunked` runs in a single call on the calling thread."""
        rows = self._chunk_rows()
        if self.device == "cuda" or self.threads <= 1:
            return rows
        return min(rows, 2 * self._min_parallel_rows - 1)  # below twice that no second thread is used

    @property
    def _min_parallel_rows(self) -> int:
        return TEXT_MIN_PARALLEL_ROWS if self.text_inputs else MIN_PARALLEL_ROWS

    def _chunked(self, n: int, run_rows: Any, max_rows: int | None = None) -> list[np.ndarray]:
        """``run_rows(start, stop)`` (a list of outputs) over ``n`` rows, in chunks of at most ``max_rows``:
        sequential on CUDA; on the CPU, equal chunks (a whole number per thread, so that no thread waits for
        another's last chunk) run concurrently."""
        size = self._chunk_rows() if max_rows is None else max(1, min(self._chunk_rows(), max_rows))
        if self.device == "cuda":
            if n <= size:
                return run_rows(0, n)
            return _joined([run_rows(i, min(i + size, n)) for i in range(0, n, size)])
        threads = min(self.threads, n // self._min_parallel_rows)
        n_chunks = -(-n // size)
        if threads > 1:
            n_chunks = -(-n_chunks // threads) * threads
        if n_chunks <= 1:
            return run_rows(0, n)
        bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
        pairs = [(int(bounds[i]), int(bounds[i + 1])) for i in range(n_chunks)]
        if threads <= 1:
            return _joined([run_rows(a, b) for a, b in pairs])
        return _joined(list(_thread_pool(threads).map(lambda pair: run_rows(*pair), pairs)))

    def _as_sklearn(self, method: str, result: np.ndarray) -> np.ndarray:
        dtype = self.output_dtypes.get(method)
        if method in self.split_outputs:  # sklearn's list of arrays, one per target
            return np.split(
                result.astype(dtype) if dtype is not None else result,
                np.cumsum(self.split_outputs[method])[:-1],
                axis=1,
            )
        if method in self.single_row_vectors and result.ndim == 2 and result.shape[0] == 1:
            result = result[0]  # sklearn's shape for one row
        if method == "predict" and self.classes is not None and self.predict_output == "class_index":
            labels = self.classes[result]
            # sklearn's own predict may hold the labels as fixed-width strings (DummyClassifier, Gaussian
            # processes) where classes_ is an object array: the same values, in its dtype.
            return labels.astype(dtype) if dtype is not None and dtype.kind == "U" and labels.dtype != dtype else labels
        if dtype is not None and dtype != result.dtype:
            if dtype.kind in "iub" and result.dtype.kind == "f" and np.isnan(result).any():
                return result  # rows a graph gives NaN for (values it refuses) have no integer form
            return result.astype(dtype)
        return result

    def prepare_input(self, X: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Check ``X`` and return it as a C-contiguous 2-D array of the graph's input dtype; for a model with
        string columns, as the dict of feeds (input name -> array) its session takes (module docstring)."""
        if self.string_inputs:
            return self._string_feeds(X)
        if hasattr(X, "columns") and hasattr(X, "iloc"):
            X = self._frame_to_array(X)
        elif self.feature_names is None or not isinstance(X, np.ndarray):
            X = np.asarray(X) if not isinstance(X, np.ndarray) else X
        self._check_matrix(X)
        return np.ascontiguousarray(X, dtype=self.input_dtype)

    def _check_matrix(self, X: Any) -> None:
        """Raise :class:`InputError` unless ``X`` (an array or a sparse matrix) is 2-D numbers of the model's
        width."""
        if X.ndim != 2:
            hint = " (use X.reshape(1, -1) for a single row)" if X.ndim == 1 else ""
            raise InputError(f"expected a 2-D array of shape (rows, {self.n_features}), got {X.ndim}-D{hint}")
        if X.shape[1] != self.n_features:
            raise InputError(f"X has {X.shape[1]} features, but this model expects {self.n_features}")
        if X.dtype.kind not in "fiub":
            raise InputError(f"X must hold numbers (float, int or bool), got dtype {X.dtype}")

    def frame_columns(self, frame: Any) -> list[Any]:
        """The labels of ``frame``'s columns in the model's column order (matched by feature name)."""
        labels = {str(c): c for c in frame.columns}
        missing = [name for name in self.feature_names or [] if name not in labels]
        if missing:
            raise InputError(f"X lacks the column(s) {missing} the model was fitted on")
        return [labels[name] for name in self.feature_names or []]

    def _string_feeds(self, X: Any) -> dict[str, np.ndarray]:
        """The feeds of a model with string columns, from a DataFrame (columns matched by name, in any order) or
        a 2-D array (columns by position)."""
        if self.takes_documents:
            feeds = {self.string_inputs[0][0]: document_array(X).reshape(-1, 1)}
            self._check_documents(feeds)
            return feeds
        framed = hasattr(X, "columns") and hasattr(X, "iloc")
        if framed and self.feature_names is not None:
            X = X[self.frame_columns(X)]
        if not framed:
            X = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
            if X.ndim != 2:
                hint = " (use X.reshape(1, -1) for a single row)" if X.ndim == 1 else ""
                raise InputError(f"expected a 2-D array of shape (rows, {self.n_features}), got {X.ndim}-D{hint}")
        if X.shape[1] != self.n_features:
            raise InputError(f"X has {X.shape[1]} features, but this model expects {self.n_features}")

        def column(j: int) -> Any:
            return X.iloc[:, j] if framed else X[:, j]

        def label(j: int) -> str:
            return repr(str(X.columns[j])) if framed else str(j + 1)

        feeds: dict[str, np.ndarray] = {}
        if self.numeric_positions:
            numeric = np.empty((X.shape[0], len(self.numeric_positions)), dtype=self.input_dtype)
            for k, j in enumerate(self.numeric_positions):
                values = column(j)
                try:
                    numeric[:, k] = values.to_numpy(dtype=np.float64, na_value=np.nan) if framed else values
                except (TypeError, ValueError) as error:
                    raise InputError(f"X: column {label(j)} must hold numbers ({error})") from None
            feeds[self.input_name] = numeric
        for name, j in self.string_inputs:
            feeds[name] = string_feed(column(j), label(j), self.missing_strings)
        self._check_documents(feeds)
        return feeds

    def _check_documents(self, feeds: dict[str, np.ndarray]) -> None:
        """Refuse documents the graph cannot tokenize as sklearn does: it would give NaN for them, and an
        arbitrary label in ``predict`` (metadata ``text_inputs``)."""
        if not self.text_inputs:
            return
        from sk2tensor.converters._text import untokenizable

        missing = set(self.missing_strings.values())
        for name, preprocessing in self.text_inputs.items():
            documents = feeds.get(name, np.empty((0, 1), dtype=object))[:, 0]
            if not missing.isdisjoint(documents):
                row = next(i for i, document in enumerate(documents) if document in missing)
                raise InputError(f"document {row + 1} of {name!r} is missing: sklearn's vectorizers refuse it too")
            # One pass over the whole batch: a line break is a separator the graph handles like sklearn, so
            # joining the documents with it neither hides nor makes a problem; the loop only finds the row.
            if all(untokenizable("\n".join(documents), *how) is None for how in preprocessing):
                continue
            for row, document in enumerate(documents):
                reason = next(filter(None, (untokenizable(document, *how) for how in preprocessing)), None)
                if reason is not None:
                    raise InputError(
                        f"document {row + 1} of {name!r} holds {reason}: the export would give NaN for it rather "
                        "than sklearn's result. Remove or replace such characters before predicting (README, Text)"
                    )

    def _frame_to_array(self, frame: Any) -> np.ndarray:
        if self.feature_names is not None:
            missing = [name for name in self.feature_names if name not in frame.columns]
            if missing:
                raise InputError(f"X lacks the column(s) {missing} the model was fitted on")
            frame = frame[self.feature_names]
        try:
            return frame.to_numpy(dtype=self.input_dtype)
        except (TypeError, ValueError) as error:
            raise InputError(f"X must hold numbers only: {error}") from None

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ``.onnx`` file (tensors go to a ``.data`` file beside it past protobuf's 2 GB)."""
        path = Path(path)
        if _serialized_size(self.onnx) > _EXTERNAL_DATA_BYTES:
            data = path.with_name(path.name + ".data")
            data.unlink(missing_ok=True)  # onnx appends to an existing file
            onnx.save_model(
                self.onnx, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data.name
            )
            # Saving moved the tensors' bytes out of self.onnx: read them back so the model stays whole.
            onnx.load_external_data_for_model(self.onnx, str(path.parent))
        else:
            onnx.save_model(self.onnx, path)
        return path

    def __repr__(self) -> str:
        name = self.estimator_class.rsplit(".", 1)[-1]
        return f"<CompiledModel {name}: {self.n_features} features -> {', '.join(self.outputs)}>"


def _joined(chunks: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Each output's chunks, concatenated along the rows."""
    return [np.concatenate([chunk[i] for chunk in chunks]) for i in range(len(chunks[0]))]


def margin_rows(base_margin: Any, n_rows: int, width: int | None = None) -> np.ndarray:
    """``base_margin`` as a float64 ``[n_rows, width]`` array (``[n_rows]`` is one column), or InputError."""
    try:
        margin = np.asarray(base_margin, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"base_margin must hold numbers ({error})") from None
    if margin.ndim == 1:
        margin = margin[:, None]
    if margin.ndim != 2 or margin.shape[0] != n_rows:
        raise InputError(f"base_margin must have one row per row of X ({n_rows}), got shape {np.shape(base_margin)}")
    if width is not None and margin.shape[1] != width:
        raise InputError(f"base_margin has {margin.shape[1]} column(s), but this model takes {width} per row")
    return margin


def dense_chunk_rows(width: int, dtype: Any) -> int:
    """Most rows of ``width`` columns of ``dtype`` whose dense matrix fits in :data:`DENSE_CHUNK_BYTES`."""
    return max(1, DENSE_CHUNK_BYTES // (max(1, int(width)) * np.dtype(dtype).itemsize))


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array (scipy comes with scikit-learn; imported only if loaded)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def document_array(X: Any) -> np.ndarray:
    """``X`` (a list, tuple, 1-D array or Series of ``str``, or a one-column table of them) as a 1-D object
    array; anything else is an :class:`InputError` naming what is wrong."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        if X.shape[1] != 1:
            raise InputError(f"the model takes documents: one sequence of strings, not {X.shape[1]} columns")
        X = X.iloc[:, 0]
    values = X.to_numpy(dtype=object) if hasattr(X, "to_numpy") else np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InputError(f"the model takes documents: a 1-D sequence of strings, got a {values.ndim}-D array")
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise InputError(
                f"document {row + 1} is {value!r} ({type(value).__name__}): the model takes strings (sklearn "
                "refuses missing documents too)"
            )
    return values


def string_feed(values: Any, label: str, missing: dict[str, str] | None = None) -> np.ndarray:
    """One string column (a pandas Series or 1-D array) as the ``[rows, 1]`` object array of ``str`` its string
    input takes: ``None`` becomes ``missing["none"]``, every other missing value (NaN, ``pd.NA``, ``NaT``)
    ``missing["nan"]``; any other non-string value is an :class:`InputError` naming the column and row."""
    missing = missing or {"nan": md.MISSING_NAN, "none": md.MISSING_NONE}
    if _is_pandas_string(values):
        # A pandas string column (pandas 3's default for text) holds strings or one missing value, never None:
        # one pass, without checking each value (a third of the time on 100,000 rows).
        return values.to_numpy(dtype=object, na_value=missing["nan"]).reshape(-1, 1)
    kind = getattr(getattr(values, "dtype", None), "kind", "O")
    array = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    array = np.array(array, dtype=object).reshape(-1)  # a copy: the caller's data is never written
    all_nan = kind == "f" and bool(np.isnan(array.astype(np.float64)).all())  # a column of missing values only
    if kind in "biufcmM" and len(array) and not all_nan:
        raise InputError(
            f"X: column {label} holds {values.dtype} values, but the model was fitted on strings in it (read the "
            "column as strings, e.g. dtype=str)"
        )
    try:
        import pandas as pd
    except ImportError:
        is_missing = np.fromiter(
            (v is None or (isinstance(v, float) and v != v) for v in array), dtype=bool, count=len(array)
        )
        strings = all(isinstance(v, str) for v in array[~is_missing])
    else:
        is_missing = np.asarray(pd.isna(array), dtype=bool)
        strings = pd.api.types.infer_dtype(array[~is_missing], skipna=False) in ("string", "empty")
    if is_missing.any():
        where = np.flatnonzero(is_missing)
        none = np.fromiter((array[i] is None for i in where), dtype=bool, count=len(where))
        array[where[none]] = missing["none"]
        array[where[~none]] = missing["nan"]
    if not strings:
        row = next(i for i, v in enumerate(array) if not isinstance(v, str))
        value = array[row]
        raise InputError(
            f"X: column {label} holds {value!r} ({type(value).__name__}) at row {row + 1}: a string column takes "
            "str values, or None/NaN for a missing value"
        )
    return array.reshape(-1, 1)


def _is_pandas_string(values: Any) -> bool:
    """Whether ``values`` is a pandas Series or array of a string dtype (``str``, ``string``)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and hasattr(values, "to_numpy") and isinstance(values.dtype, pandas.StringDtype)


def _serialized_size(model: onnx.ModelProto) -> int:
    try:
        return model.ByteSize()
    except Exception:  # protobuf's EncodeError: it does not measure a message past 2 GB
        return 1 << 62


def load(path: str | os.PathLike[str], device: str = "auto") -> CompiledModel:
    """Load an exported ``.onnx`` file; everything needed to predict is read from the file itself."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no such file: {path}")
    try:
        model = onnx.load_model(path, load_external_data=False)
        external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
        if external:
            onnx.load_external_data_for_model(model, str(path.parent))
    except Exception as error:  # protobuf raises several unrelated types for a corrupt file
        raise ModelFileError(f"{path} is not a readable ONNX model ({type(error).__name__}: {error})") from None
    if not model.graph.node:
        raise ModelFileError(f"{path} is not a readable ONNX model (it holds no graph)")
    compiled = CompiledModel(model, device=device)
    if external:
        compiled._source_path = str(path)
    if device != "cpu":
        compiled.device  # noqa: B018  (fail now, not at first prediction, when CUDA is missing)
    return compiled
