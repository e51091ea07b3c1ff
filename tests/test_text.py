"""Text vectorizers: CountVectorizer and TfidfVectorizer export their tokenizer, and agree with sklearn on the
same documents. Term counts are compared exactly; tf-idf and probabilities to 1e-6 (float32 graphs; 1e-12 for
float64 ones, where only the order of float64 sums differs). Documents the graph cannot tokenize as Python does
(a capital outside ASCII when lowercasing, a non-word character outside the graph's separators) must come out
holding NaN, never as other counts."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import sk2tensor
from sk2tensor import metadata as md
from sk2tensor.converters._text import (
    COMMON_SEPARATORS,
    MAX_CAPITAL_REPEATS,
    MAX_LOOKUP_WIDTH,
    SPACE_ROUNDS,
    TEXT_OPSET,
    letter_mapping,
    processed,
    separator_groups,
)
from sk2tensor.errors import InputError, UnsupportedEstimatorError, UnsupportedParameterError
from tests.test_portability import assert_portable

TOLERANCE = 1e-6


def descriptions() -> np.ndarray:
    """The paragraphs of the dataset descriptions scikit-learn ships (English with reStructuredText markup)."""
    folder = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")
    paragraphs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.rst"))):
        with open(path, encoding="utf-8") as file:
            paragraphs.extend(p for p in file.read().split("\n\n") if p.strip())
    return np.array(paragraphs, dtype=object)


WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
]
EDGE_DOCUMENTS = [
    "",
    "   ",
    "a b c",  # one-character words only
    "Hello, World! HELLO world...",
    "snake_case words_with_underscores and 42 numbers 3.14 x2",
    "tabs\tand\nnewlines\r\nmixed  double  spaces",
    "quotes 'single' \"double\" (parens) [brackets] {braces} <angles>",
    "e-mail me: foo@bar.com; path/to/file.txt; 50% off & more #tag ~tilde `tick` ^caret |pipe \\back $5 +1 =2",
    "typographic — dashes – “quotes” ‘single’ … ellipsis • bullet € 20 → arrow ™ ©",
    "latin-1 ×÷ ¿questions? ¡exclaims! «guillemets» café naïve señor",
    "Capitals: École Übung ÇA ÑANDÚ Ωμέγα ΑΘΗΝΑ МОСКВА Łódź Ærø ÉTÉ",
    "Too many: ÉÉÉ and other scripts: Ǆemal Ⴀ",
    "Accents: Ça déjà été où naïve Größe Ærøskøbing ĳssel Ελληνικά ΆΈΉ Ёлка йод ёжик ﬁne ™ ½ ² x́y",
    "cjk 日本語のテキスト、句読点。全角！（括弧） 中文，标点",
    "repeat repeat repeat Repeat REPEAT",
    "----- ===== ..... ***** lines of markup -----",
]


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [str(w) for w in rng.choice(WORDS, rng.integers(0, 25))]
        for i in range(len(words)):
            if rng.random() < 0.15:
                words[i] = words[i].capitalize()
            if rng.random() < 0.1:
                words[i] += str(rng.choice([",", ".", "!", "?", ";", ":"]))
        out.append(" ".join(words))
    return np.array(out + EDGE_DOCUMENTS, dtype=object)


def labels(documents: np.ndarray, classes: int = 3) -> np.ndarray:
    return np.array([len(re.findall(r"\w+", d)) % classes for d in documents])


VECTORIZERS = {
    "count": CountVectorizer(),
    "count-binary": CountVectorizer(binary=True),
    "count-case-kept": CountVectorizer(lowercase=False),
    "count-single-letters": CountVectorizer(token_pattern=r"(?u)\b\w+\b"),
    "count-bigrams": CountVectorizer(ngram_range=(1, 2)),
    "count-2-3-grams": CountVectorizer(ngram_range=(2, 3)),
    "count-stop-words-bigrams": CountVectorizer(ngram_range=(1, 2), stop_words="english"),
    "count-stop-list": CountVectorizer(stop_words=["alpha", "the", "and"]),
    "count-min-max-df": CountVectorizer(min_df=2, max_df=0.5, max_features=40),
    "count-float32": CountVectorizer(dtype=np.float32),
    "count-strip-unicode": CountVectorizer(strip_accents="unicode"),
    "count-strip-ascii-case-kept": CountVectorizer(strip_accents="ascii", lowercase=False),
    "tfidf": TfidfVectorizer(),
    "tfidf-l1-sublinear": TfidfVectorizer(norm="l1", sublinear_tf=True),
    "tfidf-no-idf": TfidfVectorizer(use_idf=False, norm=None),
    "tfidf-no-smoothing-bigrams": TfidfVectorizer(smooth_idf=False, ngram_range=(1, 2), stop_words="english"),
    "tfidf-strip-unicode-bigrams": TfidfVectorizer(strip_accents="unicode", ngram_range=(1, 2)),
}


def expected_bad_rows(vectorizer: CountVectorizer, documents: np.ndarray) -> np.ndarray:
    """The documents the graph marks, by the rules of the README written out again: a non-word character outside
    its separators (and NUL); a character sklearn's preprocessing (lowercase, strip_accents) changes that the
    graph does not rewrite, unless a non-word character becoming non-word characters; a word holding one it does
    rewrite more than MAX_CAPITAL_REPEATS times."""
    separators = {c for group in separator_groups() for c in group} | set(COMMON_SEPARATORS) | {" "}
    lowercase, strip = vectorizer.lowercase, vectorizer.strip_accents
    mapped = {c for c, _ in letter_mapping(lowercase, strip)}

    def changed_badly(c: str) -> bool:
        result = processed(c, lowercase, strip)
        if c.isascii() or c in mapped or result == c:
            return False
        word = re.fullmatch(r"\w", c) is not None
        return word or not result or any(re.fullmatch(r"\w", r) for r in result)

    deleted = {c for c in separators if not c.isascii() and strip and not processed(c, lowercase, strip)}
    bad = []
    for document in documents:
        unknown = any(re.fullmatch(r"\w", c) is None and c not in separators for c in document) or "\x00" in document
        repeated = any(
            word.count(c) > MAX_CAPITAL_REPEATS for word in re.findall(r"\w+", document) for c in mapped & set(word)
        )
        joined = any(
            re.fullmatch(r"\w", a) and re.fullmatch(r"\w", b) and set(middle) <= deleted
            for a, middle, b in re.findall(r"(\w)(\W+)(\w)", document)
        )
        changed = any(changed_badly(c) for c in set(document) - deleted)
        bad.append(unknown or repeated or joined or changed)
    return np.array(bad)


def check_transform(vectorizer: CountVectorizer, documents: np.ndarray, compiled: sk2tensor.CompiledModel) -> None:
    """The documents the graph can tokenize: sklearn's counts (exactly) or tf-idf; the others hold NaN in the
    graph's output, and CompiledModel refuses them."""
    bad = expected_bad_rows(vectorizer, documents)
    want = vectorizer.transform(documents).toarray()
    got = np.asarray(compiled.transform(documents[~bad]), dtype=np.float64)
    if isinstance(vectorizer, TfidfVectorizer):
        np.testing.assert_allclose(got, want[~bad], rtol=0, atol=TOLERANCE)
    else:
        np.testing.assert_array_equal(got, want[~bad])
    raw = compiled.session.run(["transform"], {"documents": documents.reshape(-1, 1)})[0]
    assert np.isnan(raw).any(axis=1).tolist() == bad.tolist()
    if bad.any():
        with pytest.raises(InputError, match=f"document {int(np.argmax(bad)) + 1} of 'documents' holds"):
            compiled.transform(documents)


@pytest.mark.parametrize("corpus", ["descriptions", "synthetic"])
@pytest.mark.parametrize("name", list(VECTORIZERS))
def test_vectorizer_matches_sklearn(name: str, corpus: str) -> None:
    documents = descriptions() if corpus == "descriptions" else synthetic(300)
    vectorizer = sklearn.base.clone(VECTORIZERS[name]).fit(documents)
    compiled = sk2tensor.convert(vectorizer, documents[~expected_bad_rows(vectorizer, documents)])
    assert compiled.validation.passed
    assert_portable(compiled.onnx)
    check_transform(vectorizer, documents, compiled)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["count", "tfidf", "tfidf-no-smoothing-bigrams", "count-stop-words-bigrams"])
def test_text_pipelines_match_sklearn(name: str, dtype: str) -> None:
    documents = descriptions()
    vectorizer = sklearn.base.clone(VECTORIZERS[name])
    documents = documents[~expected_bad_rows(vectorizer, documents)]
    for head in (LogisticRegression(max_iter=2000), MultinomialNB()):
        model = make_pipeline(vectorizer, head).fit(documents, labels(documents))
        compiled = sk2tensor.convert(model, documents, dtype=dtype)
        tolerance = TOLERANCE if dtype == "float32" else 1e-12
        np.testing.assert_allclose(compiled.predict_proba(documents), model.predict_proba(documents), atol=tolerance)
        np.testing.assert_array_equal(compiled.predict(documents), model.predict(documents))


def test_batches_of_one_none_and_empty_documents() -> None:
    documents = synthetic(100)
    documents = documents[~expected_bad_rows(CountVectorizer(), documents)]
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression()).fit(documents, labels(documents))
    compiled = sk2tensor.convert(model, documents[:50])
    unknown = ["qqqq zzzz", "qqqq zzzz xxxx"]  # words outside the vocabulary only
    for batch in ([documents[0]], documents[:1].tolist(), ["", ""], ["a b c"], unknown, list(documents[-3:])):
        np.testing.assert_allclose(compiled.predict_proba(batch), model.predict_proba(batch), atol=TOLERANCE)
    assert compiled.predict_proba([]).shape == (0, 3)
    assert compiled.predict(np.array([], dtype=object)).shape == (0,)
    # A Series, a one-column frame and a column array are documents too.
    series = pd.Series(documents[:5])
    for batch in (series, series.to_frame("text"), documents[:5].reshape(-1, 1)):
        np.testing.assert_array_equal(compiled.predict(batch), model.predict(documents[:5]))


def test_documents_run_in_small_chunks_on_several_threads() -> None:
    """A text model's rows cost tens of microseconds: a second thread takes documents from
    TEXT_MIN_PARALLEL_ROWS each, and a session call at most TEXT_CHUNK_ROWS of them."""
    from sk2tensor.model import TEXT_CHUNK_ROWS, TEXT_MIN_PARALLEL_ROWS

    documents = synthetic(300)
    documents = documents[~expected_bad_rows(CountVectorizer(), documents)]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(documents, labels(documents))
    compiled = sk2tensor.convert(model, documents[:20])
    compiled.threads = 2
    assert int(compiled.metadata["chunk_rows"]) == TEXT_CHUNK_ROWS
    assert compiled._one_call_rows == 2 * TEXT_MIN_PARALLEL_ROWS - 1
    calls = []
    session_run = compiled.session.run

    class Recording:
        def run(self, names, feeds):
            calls.append(len(next(iter(feeds.values()))))
            return session_run(names, feeds)

    compiled._session = Recording()
    np.testing.assert_allclose(compiled.predict_proba(documents), model.predict_proba(documents), atol=TOLERANCE)
    assert sorted(calls) == sorted([len(documents) // 2, len(documents) - len(documents) // 2])


def test_long_documents_beside_short_ones() -> None:
    """Documents longer than each splitting round (SPACE_ROUNDS) beside short ones: same counts and order."""
    rng = np.random.default_rng(1)
    ends = np.cumsum(SPACE_ROUNDS)  # a document this long ends in that round
    lengths = [0, 3, *ends.tolist(), *(ends + 1).tolist(), int(ends[-1]) + 7, 5000]
    documents = np.array([" ".join(rng.choice(WORDS, n)) + "." for n in lengths], dtype=object)
    for vectorizer in (CountVectorizer(ngram_range=(1, 3)), CountVectorizer()):
        vectorizer.fit(documents)
        check_transform(vectorizer, documents, sk2tensor.convert(vectorizer, documents))


def test_large_vocabularies_look_up_in_several_digits() -> None:
    """Vocabularies looked up in one to four digits of base MAX_LOOKUP_WIDTH."""
    rng = np.random.default_rng(2)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted({"".join(rng.choice(letters, rng.integers(4, 9))) for _ in range(70_000)})
    documents = np.array([" ".join(words[i : i + 700]) for i in range(0, len(words), 700)], dtype=object)
    for terms, ngrams in ((40, 1), (300, 1), (len(words), 1), (None, 2)):
        vectorizer = CountVectorizer(max_features=terms, ngram_range=(1, ngrams)).fit(documents)
        n_terms = len(vectorizer.vocabulary_)
        digits = int(np.ceil(np.log(n_terms) / np.log(MAX_LOOKUP_WIDTH) - 1e-9))
        assert digits == {40: 1, 300: 2, len(words): 3, None: 4}[terms], n_terms
        check_transform(vectorizer, documents[:20], sk2tensor.convert(vectorizer, documents[:5]))


def test_given_vocabulary_with_short_terms() -> None:
    documents = synthetic(50)
    documents = documents[~expected_bad_rows(CountVectorizer(), documents)]
    vectorizer = CountVectorizer(vocabulary=["a", "alpha", "b", "beta gamma", "zz"]).fit(documents)
    check_transform(vectorizer, documents, sk2tensor.convert(vectorizer, documents[:10]))
    bigrams = CountVectorizer(vocabulary=["a", "alpha", "beta gamma"], ngram_range=(1, 2)).fit(documents)
    check_transform(bigrams, documents, sk2tensor.convert(bigrams, documents[:10]))


@pytest.mark.parametrize("strip_accents", [None, "unicode"])
def test_words_joined_by_separators_keep_their_order(strip_accents: str | None) -> None:
    """Words between spaces joined by common and rare separators, capitals and accented letters among them (which
    the graph rewrites apart from the other words): n-grams still join them in document order."""
    rng = np.random.default_rng(3)
    words = ["Élan", "vital", "naïve", "Öl", "Straße", "ÜBER", "cool", "Ζωή", "Мир", "data", "x", "Ça"]
    separators = ["-", ".", "=", "\u2014", "|", "\n", "\u00ab", "\u00bb", ",", "_"]
    documents = []
    for _ in range(60):
        pieces = []
        for _ in range(rng.integers(1, 6)):
            chosen = rng.choice(words, rng.integers(1, 4))
            glue = rng.choice(separators, len(chosen) - 1)
            pieces.append("".join(w + g for w, g in zip(chosen, [*glue, ""], strict=True)))
        documents.append(" ".join(pieces))
    documents = np.array(documents, dtype=object)
    for vectorizer in (
        CountVectorizer(ngram_range=(1, 3), strip_accents=strip_accents),
        CountVectorizer(ngram_range=(2, 2), strip_accents=strip_accents, token_pattern=r"(?u)\b\w+\b"),
    ):
        vectorizer.fit(documents)
        check_transform(vectorizer, documents, sk2tensor.convert(vectorizer, documents[:10]))


@pytest.mark.parametrize("strip_accents", [None, "unicode", "ascii"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_ascii_characters_are_all_handled_but_nul(lowercase: bool, strip_accents: str | None) -> None:
    """untokenizable's shortcut for ASCII documents: no ASCII character but NUL is one the graph mishandles."""
    from sk2tensor.converters._text import _untokenizable_pattern

    pattern = _untokenizable_pattern(lowercase, strip_accents)
    assert [c for c in range(128) if pattern.search(chr(c))] == [0]


def test_documents_the_graph_cannot_tokenize() -> None:
    """A capital the graph does not lowercase (lowercase=True), a word repeating one it does, an emoji: NaN in
    the graph's outputs, through the pipeline too, and a clear error from CompiledModel and at export;
    lowercase=False keeps capitals as sklearn does."""
    documents = np.array(["plain text here", "ÉTÉ ÉÉÉ", "emoji 😀 here", "ΣΑΣ", "İstanbul", "Ωμέγα"], dtype=object)
    training = np.concatenate([documents, synthetic(20)])
    model = make_pipeline(CountVectorizer(), LogisticRegression()).fit(training, labels(training))
    compiled = sk2tensor.convert(model, documents[[0, 5]])
    probabilities = compiled.session.run(["predict_proba"], {"documents": documents.reshape(-1, 1)})[0]
    assert np.isnan(probabilities).any(axis=1).tolist() == [False, True, True, True, True, False]
    for row, reason in ((2, "'É' more than 2 times"), (3, "'😀' (U+1F600)"), (4, "'Σ' (U+03A3)"), (5, "'İ'")):
        with pytest.raises(InputError, match=re.escape("document 1 of 'documents' holds")) as error:
            compiled.predict(documents[row - 1 : row])
        assert reason in str(error.value)
    with pytest.raises(InputError, match="document 2 of 'documents' holds"):
        sk2tensor.convert(model, documents)
    kept = CountVectorizer(lowercase=False).fit(documents)
    check_transform(kept, documents, sk2tensor.convert(kept, documents[:1]))


def test_text_column_in_a_column_transformer() -> None:
    rng = np.random.default_rng(3)
    documents = synthetic(200)
    documents = documents[~expected_bad_rows(CountVectorizer(), documents)]
    frame = pd.DataFrame(
        {
            "review": documents,
            "plan": rng.choice(["basic", "pro"], len(documents)),
            "age": rng.normal(40, 10, len(documents)),
        }
    )
    columns = ColumnTransformer(
        [
            ("text", TfidfVectorizer(ngram_range=(1, 2)), "review"),
            ("plan", OneHotEncoder(), ["plan"]),
            ("age", StandardScaler(), ["age"]),
        ]
    )
    model = make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(frame, labels(documents))
    compiled = sk2tensor.convert(model, frame)
    assert compiled.onnx.opset_import[0].version >= TEXT_OPSET
    np.testing.assert_allclose(compiled.predict_proba(frame), model.predict_proba(frame), atol=TOLERANCE)
    assert_portable(compiled.onnx)
    assert json.loads(compiled.metadata[md.TEXT_INPUTS]) == {"review": [{"lowercase": True, "strip_accents": None}]}
    missing = frame.iloc[:3].copy()
    missing.loc[missing.index[1], "review"] = None
    with pytest.raises(InputError, match="document 2 of 'review' is missing"):
        compiled.predict(missing)
    emoji = frame.iloc[:3].copy()
    emoji.loc[emoji.index[2], "review"] = "great 👍"
    with pytest.raises(InputError, match="document 3 of 'review' holds the character '👍'"):
        compiled.predict(emoji)


PLAIN_RUNNER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    documents = np.array(json.loads(sys.argv[2]), dtype=object).reshape(-1, 1)
    probabilities = session.run(["predict_proba"], {"documents": documents})[0]
    print(json.dumps({"imported_sk2tensor": "sk2tensor" in sys.modules, "probabilities": probabilities.tolist()}))
    """
)


def test_saved_text_model_runs_in_a_plain_session(tmp_path: Path) -> None:
    documents = descriptions()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=2000)).fit(documents, labels(documents))
    path = sk2tensor.convert(model, documents).save(tmp_path / "text.onnx")
    sample = documents[:7].tolist()
    run = subprocess.run(
        [sys.executable, "-c", PLAIN_RUNNER, str(path), json.dumps(sample)], capture_output=True, text=True, check=True
    )
    result = json.loads(run.stdout)
    assert not result["imported_sk2tensor"]
    np.testing.assert_allclose(result["probabilities"], model.predict_proba(sample), atol=TOLERANCE)
    loaded = sk2tensor.load(path)
    inputs = json.loads(loaded.metadata[md.INPUTS])
    assert inputs == [
        {
            "name": "documents",
            "kind": "string",
            "dtype": "string",
            "shape": ["batch", 1],
            "column": None,
            "position": 0,
            "documents": True,
        }
    ]
    np.testing.assert_allclose(loaded.predict_proba(sample), model.predict_proba(sample), atol=TOLERANCE)
    assert ort.InferenceSession(str(path)).get_inputs()[0].name == "documents"


@pytest.mark.parametrize(
    ("vectorizer", "message"),
    [
        (CountVectorizer(analyzer="char"), "analyzer='word'"),
        (CountVectorizer(analyzer="char_wb", ngram_range=(2, 3)), "analyzer='word'"),
        (CountVectorizer(tokenizer=str.split, token_pattern=None), "tokenizer"),
        (CountVectorizer(preprocessor=str.strip), "preprocessor"),
        (CountVectorizer(strip_accents=str.upper), "a callable is Python code"),
        (CountVectorizer(token_pattern=r"[a-z]+"), "token_pattern"),
        (TfidfVectorizer(analyzer="char"), "analyzer='word'"),
    ],
)
def test_settings_the_graph_cannot_reproduce_are_refused(vectorizer: CountVectorizer, message: str) -> None:
    documents = synthetic(30)
    vectorizer.fit(documents)
    with pytest.raises(UnsupportedParameterError, match=re.escape(message)):
        sk2tensor.convert(make_pipeline(vectorizer, MultinomialNB()).fit(documents, labels(documents)), documents)


def test_hashing_vectorizer_is_refused_with_the_reason() -> None:
    documents = synthetic(30)
    model = make_pipeline(HashingVectorizer(), LogisticRegression()).fit(documents, labels(documents))
    with pytest.raises(UnsupportedEstimatorError, match="MurmurHash3"):
        sk2tensor.convert(model, documents)


def test_bad_documents_and_opsets_are_clear_errors() -> None:
    documents = synthetic(30)
    documents = documents[~expected_bad_rows(CountVectorizer(), documents)]
    model = make_pipeline(CountVectorizer(), MultinomialNB()).fit(documents, labels(documents))
    with pytest.raises(UnsupportedParameterError, match="opset 20"):
        sk2tensor.convert(model, documents, opset=19)
    with pytest.raises(InputError, match="document 2 is None"):
        sk2tensor.convert(model, ["fine", None])
    compiled = sk2tensor.convert(model, documents)
    with pytest.raises(InputError, match="document 1 is 3"):
        compiled.predict([3, "text"])
    with pytest.raises(InputError, match="2-D array"):
        compiled.predict([["two", "columns"]])
    with pytest.raises(InputError, match="not 2 columns"):
        compiled.predict(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_command_line_reads_documents_from_a_text_column(tmp_path: Path) -> None:
    """export --validate, predict, validate and bench on a .csv or .parquet file whose one column holds the
    documents."""
    import skops.io
    from typer.testing import CliRunner

    from sk2tensor import cli

    documents = descriptions()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=2000)).fit(documents, labels(documents))
    skops.io.dump(model, tmp_path / "text.skops")
    pd.DataFrame({"text": documents}).to_csv(tmp_path / "docs.csv", index=False)
    pd.DataFrame({"text": documents[:50]}).to_parquet(tmp_path / "docs.parquet")
    runner = CliRunner()

    def run(*args: object) -> str:
        result = runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "passed" in run(
        "export", tmp_path / "text.skops", "-o", tmp_path / "text.onnx", "--validate", tmp_path / "docs.csv"
    )
    run("predict", tmp_path / "text.onnx", tmp_path / "docs.parquet", "-o", tmp_path / "out.csv")
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "out.csv")["predict"], model.predict(documents[:50]))
    assert "passed" in run("validate", tmp_path / "text.skops", tmp_path / "text.onnx", "--data", tmp_path / "docs.csv")
    report = json.loads(run("bench", tmp_path / "text.skops", "--data", tmp_path / "docs.parquet", "--json"))
    assert report["rows"] == 50


EUROPEAN = np.array(
    [
        "Ça a déjà été dit : la Société Générale à Paris.",
        "Über die Größe der Brücke in Zürich; ÄRGER über Öl.",
        "El niño comió piña en Málaga, ¡qué rico! ¿Sí?",
        "Ελληνικά: Η Αθήνα είναι η πρωτεύουσα.",
        "Москва — столица России. Ёлка и йод.",
        "Łódź, Kraków i Gdańsk są w Polsce.",
        "plain ascii text without accents",
    ],
    dtype=object,
)


@pytest.mark.parametrize("strip_accents", [None, "unicode", "ascii"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_accents_and_capitals_of_european_alphabets(strip_accents: str | None, lowercase: bool) -> None:
    """French, German, Spanish, Greek, Russian and Polish: lowercase and strip_accents as sklearn does, word by word
    (the graph rewrites the letters of MAPPED_RANGES); the rules agree with untokenizable."""
    from sk2tensor.converters._text import untokenizable

    documents = np.concatenate([EUROPEAN, synthetic(20)])
    for vectorizer in (
        CountVectorizer(lowercase=lowercase, strip_accents=strip_accents),
        TfidfVectorizer(lowercase=lowercase, strip_accents=strip_accents, ngram_range=(1, 2)),
    ):
        vectorizer.fit(documents)
        bad = expected_bad_rows(vectorizer, documents)
        assert [untokenizable(d, lowercase, strip_accents) is not None for d in documents] == bad.tolist()
        assert not bad[: len(EUROPEAN)].any()
        check_transform(vectorizer, documents, sk2tensor.convert(vectorizer, documents[~bad]))
