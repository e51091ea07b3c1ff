"""Text pipelines (CountVectorizer or TfidfVectorizer before a logistic regression or naive Bayes): sklearn's own
``predict_proba`` beside sk2tensor's export and skl2onnx + ONNX Runtime, on the same documents.

    python -m benchmarks.text [--quick] [--repeats 7] [--no-write] [--out DIR]

Two corpora from what scikit-learn ships (no download): "descriptions", the paragraphs of its dataset description
files (English with reStructuredText markup, labelled by file; batches repeat the paragraphs), and "synthetic
reviews", sentences drawn from the words of that text (Zipf word choice, capitals, commas, brackets, full stops, !
and ?; random labels: a speed benchmark only; 20,000 training documents, held-out ones timed). Documents the
export's graph cannot tokenize (``untokenizable``) are dropped before anything is fitted, so that every engine
sees the same ones; the report says how many. Engines, in one process: sklearn's ``predict_proba``; sk2tensor's
``CompiledModel.predict_proba``; skl2onnx + ONNX Runtime (documents as a [n, 1] string tensor) when skl2onnx is
installed, or a row saying why not (it is skipped where its dense term rows would pass 4 GiB). Batches of 1, 100,
10,000 (and 100,000 synthetic documents); ``--quick``: 1 and 100, two models, 2,000 training documents. Median
seconds after a warm-up (the engines of a batch timed in alternating rounds), rows/s, ratio to sklearn, largest
difference from sklearn.
Writes ``benchmarks/results/text-<machine>-<date>.md`` (``text-<machine>-quick-<date>.md`` with ``--quick``).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pipelines import benchmark_main, interleaved_seconds, report_text, timed_row, versions

TRAIN_DOCS = 20_000
QUICK_TRAIN_DOCS = 2_000
BATCHES = {"descriptions": (1, 100, 10_000), "synthetic reviews": (1, 100, 10_000, 100_000)}
QUICK_BATCHES = (1, 100)
QUICK_MODELS = ("counts -> logistic", "tf-idf, stop words -> NB")
CONVERT_SAMPLE = 1_000
#: Above this, a row's note also says on how many rows the engine's most probable class differs from sklearn's.
LABEL_CHECK = 1e-3
#: skl2onnx's TfIdfVectorizer writes each batch's term rows dense ([n, vocabulary] float32): its rows are skipped
#: above this many bytes (ORT failed to allocate the 30 GiB of 100,000 documents over 81,064 terms).
DENSE_LIMIT = 4 * 1024**3


def _descr_folder() -> str:
    import sklearn

    return os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")


def descriptions() -> tuple[list[str], np.ndarray]:
    """The paragraphs of the dataset descriptions scikit-learn ships, and the index of the file each came from."""
    documents, labels = [], []
    for index, path in enumerate(sorted(glob.glob(os.path.join(_descr_folder(), "*.rst")))):
        with open(path, encoding="utf-8") as file:
            paragraphs = [p for p in file.read().split("\n\n") if p.strip()]
        documents.extend(paragraphs)
        labels.extend([index] * len(paragraphs))
    return documents, np.array(labels)


def synthetic_reviews(count: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``count`` documents of 1 to 7 sentences of 5 to 19 words drawn (Zipf weights) from the words of the dataset
    descriptions, with a capital first word, commas, brackets, and a full stop, ! or ?; random labels 0-4."""
    text = " ".join(
        Path(path).read_text(encoding="utf-8") for path in sorted(glob.glob(os.path.join(_descr_folder(), "*.rst")))
    )
    vocab = np.array(sorted(set(re.findall(r"[a-z]{2,}", text.lower()))))  # an array: rng.choice converts no list
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, len(vocab) + 1)
    p /= p.sum()

    def sentence() -> str:
        w = [str(word) for word in rng.choice(vocab, rng.integers(5, 20), p=p)]
        w[0] = w[0].capitalize()
        for i in range(len(w) - 1):
            if rng.random() < 0.08:
                w[i] += ","
        if rng.random() < 0.05:
            w[1] = "(" + w[1]
            w[2] += ")"
        return " ".join(w) + rng.choice([".", ".", ".", "!", "?"])

    documents = [" ".join(sentence() for _ in range(rng.integers(1, 8))) for _ in range(count)]
    return documents, rng.integers(0, 5, count)


def tokenizable(documents: list[str], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, str]:
    """The documents the export's graph can tokenize (every model here lowercases) as an object array, their
    labels, how many were dropped and the first reason."""
    from sk2tensor.converters._text import untokenizable

    reasons = [untokenizable(document, True) for document in documents]
    keep = np.array([reason is None for reason in reasons], dtype=bool)
    first = next((reason for reason in reasons if reason is not None), "")
    return np.array(documents, dtype=object)[keep], labels[keep], int((~keep).sum()), first


def _models() -> dict[str, Callable[[], object]]:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    return {
        "counts -> logistic": lambda: make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000)),
        "tf-idf 1-2 grams, min_df 2, sublinear -> logistic": lambda: make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(max_iter=2000)
        ),
        "tf-idf, stop words -> NB": lambda: make_pipeline(TfidfVectorizer(stop_words="english"), MultinomialNB()),
    }


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"


def _skl2onnx(estimator: object) -> tuple[Callable | None, str]:
    """skl2onnx's graph of ``estimator`` in an ONNX Runtime session (documents as a [n, 1] string tensor), or None
    and why not. ORT's StringNormalizer asks for the en_US.UTF-8 locale by default: where the machine lacks it,
    the vectorizer's ``locale`` option is set to "C" (what sk2tensor's graph uses) and the note says so."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import StringTensorType
    except ImportError:
        return None, "skl2onnx not installed"
    vectorizer, head = estimator.steps[0][1], estimator.steps[-1][1]

    def session(vectorizer_options: dict[str, object]) -> object:
        options = {id(head): {"zipmap": False}, **({id(vectorizer): vectorizer_options} if vectorizer_options else {})}
        onx = to_onnx(estimator, initial_types=[("input", StringTensorType([None, 1]))], options=options)
        settings = onnxruntime.SessionOptions()
        settings.log_severity_level = 4  # a failed load is the row's note, not a log line
        return onnxruntime.InferenceSession(onx.SerializeToString(), settings, providers=["CPUExecutionProvider"])

    note = ""
    try:
        loaded = session({})
    except Exception as error:  # any refusal is the row's note
        if "locale" not in str(error):
            return None, f"cannot convert or load: {_why(error)}"
        try:
            loaded = session({"locale": "C"})
        except Exception as retry:
            return None, f"cannot convert or load: {_why(retry)}"
        note = "locale 'C' (ORT found no en_US.UTF-8 locale here)"
    name = loaded.get_inputs()[0].name
    return (lambda documents: loaded.run(None, {name: documents.reshape(-1, 1)})[1]), note


def _corpora(quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int, str]]:
    """corpus -> (training documents, their labels, documents to time, dropped, first reason)."""
    found = {}
    documents, labels = descriptions()
    train, target, dropped, reason = tokenizable(documents, labels)
    found["descriptions"] = (train, target, train, dropped, reason)
    training = QUICK_TRAIN_DOCS if quick else TRAIN_DOCS
    largest = max(QUICK_BATCHES if quick else BATCHES["synthetic reviews"])
    documents, labels = synthetic_reviews(training + largest)
    kept, target, dropped, reason = tokenizable(documents, labels)
    found["synthetic reviews"] = (kept[:training], target[:training], kept[training:], dropped, reason)
    return found


def _row(
    name: str,
    batch: int,
    engine: str,
    call: Callable,
    rows_in: np.ndarray,
    expected: np.ndarray,
    base: float | None,
    seconds: float,
    note: str,
) -> dict[str, object]:
    """``timed_row`` of the ``seconds`` measured, with a note saying on how many documents the most probable class
    differs from sklearn's when the probabilities differ by more than ``LABEL_CHECK``."""
    row = timed_row(name, batch, engine, call, rows_in, expected, base, 1, note, seconds=seconds)
    if row["max_diff"] > LABEL_CHECK:
        differ = int((np.asarray(call(rows_in)).argmax(axis=1) != expected.argmax(axis=1)).sum())
        row["note"] = "; ".join(filter(None, [note, f"most probable class differs on {differ:,} of {batch:,}"]))
    return row


def run(repeats: int, quick: bool = False) -> tuple[list[dict[str, object]], list[str]]:
    """The table's rows, and one line per corpus saying how many documents it has and dropped."""
    import sk2tensor

    rows: list[dict[str, object]] = []
    corpus_lines = []
    models = {name: make for name, make in _models().items() if not quick or name in QUICK_MODELS}
    for corpus, (train, target, probe, dropped, reason) in _corpora(quick).items():
        corpus_lines.append(
            f"- {corpus}: {len(train):,} training documents, {len(probe):,} to time, {dropped:,} dropped as "
            f"untokenizable{f' (first: {reason})' if dropped else ''}."
        )
        for model, make in models.items():
            name = f"{corpus}: {model}"
            estimator = make().fit(train, target)
            start = time.perf_counter()
            compiled = sk2tensor.convert(estimator, probe[:CONVERT_SAMPLE])
            export_seconds = time.perf_counter() - start
            peer, peer_note = _skl2onnx(estimator)
            engines = {"sklearn": estimator.predict_proba, "sk2tensor": compiled.predict_proba, "skl2onnx + ORT": peer}
            for batch in QUICK_BATCHES if quick else BATCHES[corpus]:
                rows_in = np.resize(probe, batch)  # the descriptions repeat to fill the larger batches
                expected = np.asarray(estimator.predict_proba(rows_in), dtype=np.float64)
                notes = {"sklearn": "", "sk2tensor": f"export {export_seconds:.2f} s", "skl2onnx + ORT": peer_note}
                timed = {}
                for engine, call in engines.items():
                    dense_bytes = batch * len(estimator.steps[0][1].vocabulary_) * 4
                    if engine == "skl2onnx + ORT" and call is not None and dense_bytes > DENSE_LIMIT:
                        call = None
                        notes[engine] = f"skipped: its dense term rows would take {dense_bytes / 1024**3:.0f} GiB"
                    if call is not None and engine == "skl2onnx + ORT":
                        try:
                            call(rows_in)
                        except Exception as error:
                            call, notes[engine] = None, f"failed: {_why(error)}"
                    if call is not None:
                        timed[engine] = call
                seconds = interleaved_seconds(
                    {engine: functools.partial(call, rows_in) for engine, call in timed.items()},
                    repeats if batch < 100_000 else 3,
                )
                for engine in engines:
                    if engine not in timed:
                        rows.append({"model": name, "batch": batch, "engine": engine, "note": notes[engine]})
                        continue
                    base = None if engine == "sklearn" else seconds["sklearn"]
                    call, note = timed[engine], notes[engine]
                    rows.append(_row(name, batch, engine, call, rows_in, expected, base, seconds[engine], note))
                print(name, batch, flush=True)
    return rows, corpus_lines


def report(rows: list[dict[str, object]], corpus_lines: list[str]) -> str:
    """The Markdown report of ``run``'s rows."""
    explanation = [
        "Median seconds of one `predict_proba` call after a warm-up, same process, same documents (an object array",
        "of str; skl2onnx's graph gets it as a [n, 1] string tensor); the engines of a batch are timed in alternating",
        "rounds, so that a slow spell of the machine falls on all of them. `x sklearn`: sklearn's seconds over the",
        "engine's (above 1: faster). `max diff`: largest difference from sklearn's probabilities. The sk2tensor",
        f"note is `convert()`'s time, its validation on up to {CONVERT_SAMPLE:,} of the documents included.",
        "The descriptions are the paragraphs of scikit-learn's dataset description files, labelled by file; the",
        "model is fitted on all of them and the batches repeat them. The synthetic reviews are sentences drawn from",
        "the words of those files, with random labels: a speed benchmark, the probabilities mean nothing.",
        "Documents the export's graph cannot tokenize are dropped before fitting, for every engine:",
        "",
        *corpus_lines,
    ]
    return report_text("Text vectorizer pipelines", versions(), explanation, rows)


def main(argv: list[str] | None = None) -> int:
    return benchmark_main(
        argv,
        __doc__.split("\n\n")[0],
        lambda repeats, quick: report(*run(repeats, quick)),
        "text",
        7,
        quick="batches of 1 and 100, two models, smaller training",
    )


if __name__ == "__main__":
    raise SystemExit(main())
