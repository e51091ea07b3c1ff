"""Word tokenization and term counting of sklearn's CountVectorizer, in default-domain ONNX operators.

sklearn lowercases each document (``str.lower``), takes the maximal runs of word characters (``\\w`` of Python's
``re``: letters, digits and ``_`` of every script) that are long enough (two characters for the default
``token_pattern``), drops stop words, joins consecutive tokens into n-grams and counts the terms of its
vocabulary. ONNX has no regular-expression tokenizer, so the graph gets there with the string operators of
opset 20:

* lowercase: ``StringNormalizer`` in the ``"C"`` locale, which every platform has, changes ``A``-``Z``; the
  capitals of :data:`MAPPED_RANGES` (and with ``strip_accents`` their accented letters) are replaced in the
  words that hold one (``StringSplit`` on the character, the parts joined with its replacement by
  ``StringConcat``). Other locales depend on what a machine installs.
* words: ``StringSplit`` on spaces (in rounds, so one long document does not pad the others), then the pieces
  that are not all word characters (one ``RegexFullMatch``) are split on the separators in stages
  (:func:`_separate`): full stop, comma and line break; the other common ones on what those left; the rarer ones
  of :data:`SEPARATOR_RANGES` by range and a few at a time, each behind an ``If`` that runs it only when some
  piece holds one. With n-grams the words are put back in document order (``TopK`` on their position).
* terms: every word (or n-gram, joined by a space) is looked up in the vocabulary with ONNX's
  ``TfIdfVectorizer`` (:func:`vocabulary_columns`), and ``row * n_terms + column`` sorted by ``TopK`` gives each
  row's counts in the order of a CSR matrix with sorted columns (as CountVectorizer returns it).

A document the graph cannot tokenize as sklearn does (a non-word character outside the separators, a capital it
does not lowercase, a capital three times in one word) comes out NaN (its counts, and a NaN in column 0), never
as other counts; :func:`untokenizable` applies the same rules in Python, so that CompiledModel refuses such
documents with the reason. The result is :class:`~sk2tensor.graph.SparseRows`: a TfidfTransformer, linear model
or naive Bayes after the vectorizer works on the stored counts only.
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sk2tensor.graph import STRING, GraphBuilder, SparseRows, Var

#: StringSplit and RegexFullMatch are opset 20 operators.
TEXT_OPSET = 20

#: The token patterns the graph reproduces, with the fewest word characters of a token.
TOKEN_PATTERNS = {
    r"(?u)\b\w\w+\b": 2,
    r"\b\w\w+\b": 2,
    r"(?u)\b\w+\b": 1,
    r"\b\w+\b": 1,
}

#: The common separators, in stages (:func:`_separate`): the first splits every piece that is not all word
#: characters, the next only the parts the first left so (in most text a full stop or a comma is all a piece
#: holds), then the rarer separators of :data:`SEPARATOR_RANGES` split what is left.
COMMON_STAGES = ((".", ",", "\n"), tuple("'-()\":;!?/\t\r"))
COMMON_SEPARATORS = tuple(c for stage in COMMON_STAGES for c in stage)

#: Terms are looked up one digit of their column at a time (:func:`vocabulary_columns`), in the smallest number
#: of digits whose base is at most this: one lookup up to 48 terms, two up to 2,304, three up to 110,592. Each
#: lookup writes a row this wide per term, and ONNX Runtime's costs per term (one thread, 2-vCPU EPYC) were
#: lowest about there: 20,000 terms looked up 100,000 times, 2 digits (base 142) 425 ns a term, 3 (base 28)
#: 276 ns, 4 (base 12) 324 ns; 100,000 terms: 1,141, 625 (base 47) and 750 ns.
MAX_LOOKUP_WIDTH = 48

#: Characters outside ASCII that the graph lowercases or strips of their accents (one StringSplit each), by code
#: point range: Latin-1, Latin Extended-A, the Greek and the Russian alphabets. A capital or accented letter of
#: another script makes its document NaN (:func:`unhandled_characters`).
MAPPED_RANGES = ((0xC0, 0xFF), (0x100, 0x17F), (0x386, 0x3CE), (0x400, 0x45F))

#: A word is lowercased or stripped when it holds each such character at most this many times (more: NaN).
MAX_CAPITAL_REPEATS = 2

#: Words split off each document per round before the rest of it goes to the next round (:func:`_space_split`);
#: the last round splits what is left whole. A round at 256 took 2,000 description paragraphs (292 of them longer
#: than 64 words, the longest 678) from 50.1 to 47.2 ms, and reviews within noise (saved exports side by side).
SPACE_ROUNDS = (64, 256, 1024)

#: The rarer separators are tried this many at a time, each set only when some part holds one of them.
GATED_CHUNK = 8

#: Code point ranges whose non-word characters are separators of the graph (each range runs only when a piece
#: holds one of its characters).
SEPARATOR_RANGES = (
    (0x20, 0x7F),  # ASCII punctuation
    (0x01, 0x1F),  # ASCII control characters (NUL excepted)
    (0xA0, 0xFF),  # Latin-1 (its control characters excepted)
    (0x2000, 0x206F),  # general punctuation, spaces
    (0x20A0, 0x20CF),  # currency signs
    (0x2116, 0x2116),  # numero sign
    (0x2122, 0x2122),  # trade mark sign
    (0x2190, 0x2199),  # arrows
    (0x21D2, 0x21D4),  # double arrows
    (0x3000, 0x303F),  # CJK punctuation
    (0xFF00, 0xFF65),  # full-width punctuation
)


@functools.cache
def _word_table() -> np.ndarray:
    """bool per code point: whether it is a word character (``\\w`` of Python's ``re``). One regular expression
    over a string of every character, not a million calls."""
    code_points = np.concatenate([np.arange(1, 0xD800), np.arange(0xE000, sys.maxunicode + 1)])  # no surrogates
    everything = "".join(map(chr, code_points.tolist()))
    table = np.zeros(sys.maxunicode + 1, dtype=bool)
    for run in re.finditer(r"\w+", everything):
        table[code_points[run.start() : run.end()]] = True
    return table


def _is_word(character: str) -> bool:
    return bool(_word_table()[ord(character)]) if len(character) == 1 else re.fullmatch(r"\w", character) is not None


def _ranges(code_points: list[int]) -> list[list[int]]:
    """``[first, last]`` of each run of consecutive ``code_points`` (sorted)."""
    ranges: list[list[int]] = []
    for c in code_points:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ranges


def _re2_class(code_points: list[int]) -> str:
    """An RE2 character class of ``code_points`` (sorted), as ranges of ``\\x{...}`` escapes."""
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in _ranges(code_points))
    return f"[{body}]"


@functools.cache
def word_class() -> str:
    """RE2 class of Python's ``\\w`` (this interpreter's Unicode tables)."""
    return _re2_class(np.flatnonzero(_word_table()).tolist())


def processed(character: str, lowercase: bool, strip_accents: str | None) -> str:
    """What sklearn's preprocessing makes of one character: ``str.lower``, then ``strip_accents`` (NFKD, then
    the combining marks dropped, or everything outside ASCII for ``"ascii"``). Both act character by character
    (the reordering of combining marks that NFKD does cannot matter once they are dropped), except the final
    sigma, which the graph refuses."""
    if lowercase:
        character = character.lower()
    if strip_accents is None or character.isascii():
        return character
    decomposed = unicodedata.normalize("NFKD", character)
    if strip_accents == "ascii":
        return decomposed.encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def letter_mapping(lowercase: bool, strip_accents: str | None = None) -> tuple[tuple[str, str], ...]:
    """The characters outside ASCII the graph replaces in the words, with what it replaces them by: the word
    characters of :data:`MAPPED_RANGES` that sklearn's preprocessing changes into word characters only (or
    nothing), whatever surrounds them (not ``Σ``, whose lowercase depends on the next letter)."""
    pairs = []
    for start, stop in MAPPED_RANGES:
        for c in map(chr, range(start, stop + 1)):
            if c == "\u03a3" or not _is_word(c):
                continue
            replacement = processed(c, lowercase, strip_accents)
            if replacement != c and all(_is_word(r) for r in replacement):
                pairs.append((c, replacement))
    return tuple(pairs)


@functools.cache
def unhandled_characters(lowercase: bool, strip_accents: str | None = None) -> tuple[int, ...]:
    """Code points sklearn's preprocessing changes in a way the graph does not reproduce (NUL among them, which
    the graph takes for no separator): a capital or accented character outside :func:`letter_mapping`, or a
    non-word character that becomes nothing or a word character (``™`` to ``TM``, a combining mark dropped).
    A non-word character that becomes other non-word characters (``…`` to ``...``) splits words alike."""
    if not lowercase and strip_accents is None:
        return (0,)
    mapped = {ord(c) for c, _ in letter_mapping(lowercase, strip_accents)}
    words = _word_table()
    found = [0]
    for c in itertools.chain(range(0x80, 0xD800), range(0xE000, sys.maxunicode + 1)):  # no surrogates
        if c in mapped:
            continue
        character = chr(c)
        if strip_accents is None and character.lower() == character:
            continue  # only str.lower at work: it changes capitals, nothing else
        if strip_accents == "ascii" and words[c] and not unicodedata.decomposition(character):
            found.append(c)  # a letter with no decomposition: "ascii" deletes it, and the graph keeps it
            continue
        result = processed(character, lowercase, strip_accents)
        if result == character:
            continue
        if not _is_word(character) and result and not any(_is_word(r) for r in result):
            continue
        if not result and c in deleted_separators(lowercase, strip_accents):
            continue
        found.append(c)
    return tuple(found)


@functools.cache
def deleted_separators(lowercase: bool, strip_accents: str | None = None) -> tuple[int, ...]:
    """Separators of the graph that sklearn's preprocessing deletes (``strip_accents="ascii"`` deletes ``¡`` and
    ``—``): the graph splits words on them, as sklearn's tokenizer does on what surrounds them, unless they sit
    between two word characters, which sklearn joins (such documents are marked)."""
    if strip_accents is None:
        return ()
    separators = {c for group in separator_groups() for c in group}
    return tuple(sorted(ord(c) for c in separators if not c.isascii() and not processed(c, lowercase, strip_accents)))


@functools.cache
def separator_groups() -> tuple[tuple[str, ...], ...]:
    """The separators of each of :data:`SEPARATOR_RANGES`, the common ones left out."""
    groups = []
    for start, stop in SEPARATOR_RANGES:
        characters = tuple(
            chr(c)
            for c in range(start, stop + 1)
            if not _is_word(chr(c)) and chr(c) not in COMMON_SEPARATORS and unicodedata.category(chr(c)) != "Cn"
        )
        groups.append(tuple(c for c in characters if c != " "))
    return tuple(groups)


def re2_literal(text: str) -> str:
    """``text`` as an RE2 pattern matching it literally."""
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{{{ord(c):x}}}" for c in text)


@dataclass(frozen=True)
class Analyzer:
    """What CountVectorizer's word analyzer does, as the graph needs it."""

    lowercase: bool
    strip_accents: str | None
    min_token_length: int
    stop_words: frozenset[str]
    ngram_range: tuple[int, int]
    #: Whether the vocabulary holds a term shorter than ``min_token_length`` (a ``vocabulary`` given to the
    #: vectorizer): only then are short words dropped before counting single words.
    short_terms: bool = True


@functools.cache
def _separator_points() -> list[int]:
    """The code points of every separator of the graph (space, the common ones, the rarer groups)."""
    return sorted({ord(" ")} | {ord(c) for c in COMMON_SEPARATORS} | {ord(c) for g in separator_groups() for c in g})


def _zero(graph: GraphBuilder) -> Var:
    return graph.const(np.int64(0), "zero")


def _string_const(graph: GraphBuilder, values: list[str], hint: str) -> Var:
    return graph.const(np.array(values, dtype=object), hint, dtype=STRING)


def _regex(graph: GraphBuilder, x: Var, pattern: str) -> Var:
    return graph.regex_match(x, pattern)


def _count_true(graph: GraphBuilder, mask: Var) -> Var:
    """int64 scalar: how many of the 1-D ``mask`` are true (0 for an empty one)."""
    return graph.reduce_sum(graph.cast(mask, np.int64), [0])


def _all_true(graph: GraphBuilder, strings: Var) -> Var:
    """bool trues of the shape of a string tensor, with no shape operator (comparing with the empty string stops
    at the lengths)."""
    empty = graph.equal(strings, _string_const(graph, [""], "empty"))
    return graph.logical_or(empty, graph.logical_not(empty))


def _ones_like(graph: GraphBuilder, strings: Var) -> Var:
    """int64 ones of the shape of a string tensor (:func:`_all_true`)."""
    return graph.cast(_all_true(graph, strings), np.int64)


def _any(graph: GraphBuilder, mask: Var) -> Var:
    """bool scalar: whether any of the 1-D bool ``mask`` is true (an ``If`` condition)."""
    return graph.reshape(graph.greater(_count_true(graph, mask), _zero(graph)), [])


def _non_empty(graph: GraphBuilder, strings: Var) -> Var:
    """bool scalar: whether the 1-D ``strings`` hold any string."""
    return _any(graph, _all_true(graph, strings))


def _split(graph: GraphBuilder, pieces: Var, origins: Var, separator: str) -> tuple[Var, Var]:
    """``pieces`` (1-D) split on ``separator``, the empty parts dropped, each part keeping its piece's origin."""
    parts, _ = graph.string_split(pieces, separator)
    filled = graph.logical_not(graph.equal(parts, _string_const(graph, [""], "empty")))
    column = graph.unsqueeze(origins, [1])
    spread = graph.where(filled, column, column)  # each part's origin, [pieces, parts]
    keep = graph.reshape(filled, [-1])
    return graph.compress(graph.reshape(parts, [-1]), keep), graph.compress(graph.reshape(spread, [-1]), keep)


def _split_all(graph: GraphBuilder, pieces: Var, origins: Var, separators: tuple[str, ...]) -> tuple[Var, Var]:
    for separator in separators:
        pieces, origins = _split(graph, pieces, origins, separator)
    return pieces, origins


def _any_holds(graph: GraphBuilder, pieces: Var, group: tuple[str, ...]) -> tuple[Var, Var]:
    """Which of ``pieces`` hold a character of ``group``, and whether any does (a bool scalar)."""
    holds = _regex(graph, pieces, f"(?s).*{_re2_class(sorted(ord(c) for c in group))}.*")
    return holds, _any(graph, holds)


def _when_held(
    graph: GraphBuilder, pieces: Var, origins: Var, characters: tuple[str, ...], split: Callable[..., tuple[Var, Var]]
) -> tuple[Var, Var]:
    """``split(branch, pieces, origins)`` when some piece holds one of ``characters`` (``If``), else the pieces."""
    _, held = _any_holds(graph, pieces, characters)

    def then(branch: GraphBuilder) -> list[Var]:
        return list(split(branch, pieces, origins))

    def otherwise(branch: GraphBuilder) -> list[Var]:
        return [pieces, origins]

    pieces, origins = graph.if_(held, then, otherwise, [1, 1], hint="separators")
    return pieces, origins


def _gated_splits(graph: GraphBuilder, pieces: Var, origins: Var, group: tuple[str, ...]) -> tuple[Var, Var]:
    """``pieces`` split on the separators of ``group``, :data:`GATED_CHUNK` of them at a time and only when some
    piece holds one of those (``If``): a batch pays for the separators it holds."""
    for start in range(0, len(group), GATED_CHUNK):
        chunk = group[start : start + GATED_CHUNK]
        pieces, origins = _when_held(graph, pieces, origins, chunk, functools.partial(_split_all, separators=chunk))
    return pieces, origins


def _split_stage(graph: GraphBuilder, parts: Var, origins: Var, stage: int) -> tuple[Var, Var]:
    """``parts`` split on the separators of stage ``stage`` (:data:`COMMON_STAGES`, then the rarer separators of
    :data:`SEPARATOR_RANGES`), when there are parts (``If``). The rarer ones go by range and then by
    :data:`GATED_CHUNK`, each only when some part holds one of them (:func:`_gated_splits`)."""

    def split(sub: GraphBuilder) -> list[Var]:
        if stage < len(COMMON_STAGES):
            return list(_split_all(sub, parts, origins, COMMON_STAGES[stage]))
        p, o = parts, origins
        for group in separator_groups():
            p, o = _when_held(sub, p, o, group, functools.partial(_gated_splits, group=group))
        return [p, o]

    def keep(sub: GraphBuilder) -> list[Var]:
        return [parts, origins]

    parts, origins = graph.if_(_non_empty(graph, parts), split, keep, [1, 1], hint="separators")
    return parts, origins


def _separate(graph: GraphBuilder, pieces: Var, ordered: bool) -> tuple[Var, Var, Var]:
    """The words of ``pieces`` (1-D strings split on spaces), their pieces' positions, and the positions of the
    parts still holding a non-word character (their rows are marked).

    The pieces that are not all word characters are split on the separators in stages (:data:`COMMON_STAGES`,
    then the rarer ones): before each stage after the first, the parts of word characters only are set aside,
    so that a stage splits only what the previous ones left. With ``ordered`` (n-grams), a piece's parts are set
    aside together, once all of them are words: each piece's parts then stay together and in order, and the
    words come back in document order by a stable sort on their positions."""
    zero = _zero(graph)
    ones = _ones_like(graph, pieces)
    positions = graph.sub(graph.cumsum(ones, 0), ones)
    no_marks = graph.mul(ones, zero) if ordered else None  # one per piece
    words: list[Var] = []
    word_positions: list[Var] = []
    parts, origins = pieces, positions
    for stage in range(len(COMMON_STAGES) + 1):
        clean = _regex(graph, parts, f"{word_class()}+")
        moving = graph.logical_not(clean)
        if no_marks is not None and stage > 0:
            marks = graph._node(
                "ScatterElements", [no_marks, origins, graph.cast(moving, np.int64)], np.int64, axis=0, reduction="max"
            )
            moving = graph.cast(graph.take(marks, origins), np.bool_)
        staying = graph.logical_not(moving)
        words.append(graph.compress(parts, staying))
        word_positions.append(graph.compress(origins, staying))
        parts, origins = graph.compress(parts, moving), graph.compress(origins, moving)
        if stage == 1:
            # Parts of separators only (a reStructuredText underline, "--", "..."): no words, and a run of 60
            # dashes would pad every part's split on "-" to 61 strings.
            words_in = graph.logical_not(_regex(graph, parts, f"{_re2_class(_separator_points())}+"))
            parts, origins = graph.compress(parts, words_in), graph.compress(origins, words_in)
        parts, origins = _split_stage(graph, parts, origins, stage)
    # A part still holding a non-word character is in no separator group.
    unsplit = graph.logical_not(_regex(graph, parts, f"{word_class()}+"))
    words.append(parts)
    word_positions.append(origins)
    return graph.concat(words, axis=0), graph.concat(word_positions, axis=0), graph.compress(origins, unsplit)


def _space_split(graph: GraphBuilder, documents: Var, keys: Var) -> tuple[Var, Var]:
    """The words between spaces of ``documents`` (1-D) and the key of each, ``keys`` (one per document, a
    multiple of ``2**32``) plus the word's number in its document.

    StringSplit pads every document to the longest one's count of parts, so a batch holding one long document
    would cost that many strings per document: the first rounds split off a bounded number of words
    (:data:`SPACE_ROUNDS`) and only the documents longer than that go on to the next round."""
    words, word_keys = [], []
    offset = 0
    rest, rest_keys = documents, keys
    for bound in (*SPACE_ROUNDS, None):
        parts, counts = graph.string_split(rest, " ", bound)
        filled = graph.logical_not(graph.equal(parts, _string_const(graph, [""], "empty")))
        ones = graph.cast(graph.logical_or(filled, graph.logical_not(filled)), np.int64)
        number = graph.sub(graph.cumsum(ones, 1), ones)  # each part's column
        key = graph.add(graph.unsqueeze(rest_keys, [1]), graph.add(number, graph.const(np.int64(offset), "offset")))
        taken = filled
        if bound is not None:
            # A document with more parts than the bound keeps the rest of it in part number ``bound``.
            longer = graph.unsqueeze(graph.greater(counts, graph.const(np.int64(bound), "bound")), [1])
            remainder = graph.logical_and(graph.equal(number, graph.const(np.int64(bound), "bound")), longer)
            taken = graph.logical_and(filled, graph.logical_not(remainder))
            flat_remainder = graph.reshape(remainder, [-1])
        flat_parts, flat_taken = graph.reshape(parts, [-1]), graph.reshape(taken, [-1])
        words.append(graph.compress(flat_parts, flat_taken))
        word_keys.append(graph.compress(graph.reshape(key, [-1]), flat_taken))
        if bound is None:
            break
        rest = graph.compress(flat_parts, flat_remainder)
        rest_keys = graph.compress(graph.reshape(key, [-1]), flat_remainder)
        rest_keys = graph.sub(rest_keys, graph.const(np.int64(offset + bound), "offset"))
        offset += bound
    return graph.concat(words, axis=0), graph.concat(word_keys, axis=0)


def tokens(graph: GraphBuilder, documents: Var, analyzer: Analyzer) -> tuple[Var, Var, Var]:
    """The tokens of ``documents`` (1-D strings), the row of each, and ``[batch]`` bool: the rows whose tokens the
    graph cannot reproduce (module docstring). Tokens come in document order when the analyzer makes n-grams
    (in any order otherwise: counts do not depend on it)."""
    batch_ones = _ones_like(graph, documents)
    zero = _zero(graph)
    shift = graph.const(np.int64(1 << 32), "row_shift")
    # Characters whose preprocessing the graph does not reproduce (module docstring), NUL among them.
    unhandled = unhandled_characters(analyzer.lowercase, analyzer.strip_accents)
    bad = _regex(graph, documents, f"(?s).*{_re2_class(list(unhandled))}.*")
    deleted = deleted_separators(analyzer.lowercase, analyzer.strip_accents)
    if deleted:
        joined = _regex(graph, documents, f"(?s).*{word_class()}{_re2_class(list(deleted))}+{word_class()}.*")
        bad = graph.logical_or(bad, joined)
    mapping = letter_mapping(analyzer.lowercase, analyzer.strip_accents)
    if mapping:
        mapped = _regex(graph, documents, f"(?s).*{_re2_class(sorted(ord(c) for c, _ in mapping))}.*")
        any_mapped = _any(graph, mapped)
    if analyzer.lowercase:
        documents = graph._node("StringNormalizer", [documents], STRING, case_change_action="LOWER", locale="C")
    document_rows = graph.sub(graph.cumsum(batch_ones, 0), batch_ones)  # 0 .. batch - 1
    pieces, keys = _space_split(graph, documents, graph.mul(document_rows, shift))
    ordered = analyzer.ngram_range[1] > 1
    if ordered:
        _, order = graph.topk(keys, graph.reshape(graph.reduce_sum(_ones_like(graph, pieces), [0]), [1]), 0, False)
        pieces, keys = graph.take(pieces, order), graph.take(keys, order)
    rows = graph.div(keys, shift)
    # Pieces of word characters only are final; the others are split on the separators in stages, each part
    # keeping its piece's position (its origin) among the pieces.
    words, word_positions, unsplit_origins = _separate(graph, pieces, ordered)
    unsplit_rows = graph.take(rows, unsplit_origins)
    marks = graph.scatter_elements(graph.mul(batch_ones, zero), unsplit_rows, _ones_like_int(graph, unsplit_rows))
    bad = graph.logical_or(bad, graph.cast(marks, np.bool_))
    if mapping:
        words, failed = _map_letters(graph, words, word_positions, any_mapped, mapping)
        if any(not replacement for _, replacement in mapping):  # a word of deleted letters is no word
            kept = graph.logical_not(graph.equal(words, _string_const(graph, [""], "empty")))
            words, word_positions = graph.compress(words, kept), graph.compress(word_positions, kept)
        failed_rows = graph.take(rows, failed)
        marks = graph.scatter_elements(graph.mul(batch_ones, zero), failed_rows, _ones_like_int(graph, failed_rows))
        bad = graph.logical_or(bad, graph.cast(marks, np.bool_))
    if ordered:
        # Back in document order: TopK keeps equal keys in their order, and an origin's parts are in order.
        count = graph.reshape(graph.reduce_sum(_ones_like(graph, words), [0]), [1])
        _, order = graph.topk(word_positions, count, axis=0, largest=False)
        words, word_positions = graph.take(words, order), graph.take(word_positions, order)
    word_rows = graph.take(rows, word_positions)
    keep = None
    if analyzer.min_token_length > 1 and (ordered or analyzer.short_terms):
        keep = _regex(graph, words, f"(?s).{{{analyzer.min_token_length},}}")
    if analyzer.stop_words and ordered:
        listed = "|".join(re2_literal(w) for w in sorted(analyzer.stop_words))
        kept = graph.logical_not(_regex(graph, words, f"(?:{listed})"))
        keep = kept if keep is None else graph.logical_and(keep, kept)
    if keep is not None:
        words = graph.compress(words, keep)
        word_rows = graph.compress(word_rows, keep)
    return words, word_rows, bad


def _replace_letters(graph: GraphBuilder, words: Var, letters: tuple[tuple[str, str], ...]) -> tuple[Var, Var]:
    """``words`` with each character of ``letters`` replaced (StringSplit on it, then the parts joined with its
    replacement), and which words hold one more than :data:`MAX_CAPITAL_REPEATS` times (those are not replaced
    whole)."""
    ones = _ones_like(graph, words)
    padding = graph.where(
        graph.equal(
            graph.mul(graph.unsqueeze(ones, [1]), graph.const(np.zeros((1, MAX_CAPITAL_REPEATS + 1), np.int64))),
            _zero(graph),
        ),
        _string_const(graph, [""], "empty"),
        _string_const(graph, [""], "empty"),
    )  # [words, repeats + 1] empty strings
    too_many: Var | None = None
    for capital, small in letters:
        parts, counts = graph.string_split(words, capital, MAX_CAPITAL_REPEATS)
        parts = graph.slice(
            graph.concat([parts, padding], axis=1), [0, 0], [np.iinfo(np.int64).max, MAX_CAPITAL_REPEATS + 1]
        )
        joined = graph.gather(parts, _zero(graph), axis=1)
        letter = _string_const(graph, [small], "replacement")
        for j in range(1, MAX_CAPITAL_REPEATS + 1):
            separator = graph.where(
                graph.greater(counts, graph.const(np.int64(j), "part")), letter, _string_const(graph, [""], "empty")
            )
            joined = graph.string_concat(joined, separator)
            joined = graph.string_concat(joined, graph.gather(parts, graph.const(np.int64(j), "part"), axis=1))
        last = graph.gather(parts, graph.const(np.int64(MAX_CAPITAL_REPEATS), "part"), axis=1)
        more = _regex(graph, last, f"(?s).*{re2_literal(capital)}.*")
        too_many = more if too_many is None else graph.logical_or(too_many, more)
        words = joined
    assert too_many is not None
    return words, too_many


def _map_letters(
    graph: GraphBuilder, words: Var, positions: Var, any_mapped: Var, pairs: tuple[tuple[str, str], ...]
) -> tuple[Var, Var]:
    """``words`` with the characters of ``pairs`` (:func:`letter_mapping`) replaced, when a document holds one
    (``If``): the words holding one are rewritten, in groups of :data:`GATED_CHUNK` characters each run only when
    some word holds one, and written back in their places (so that words stay in document order). Also the
    positions of the words that hold one too often to be rewritten here."""

    def lowercase(sub: GraphBuilder) -> list[Var]:
        holds = _regex(sub, words, f"(?s).*{_re2_class(sorted(ord(c) for c, _ in pairs))}.*")
        ones = _ones_like(sub, words)
        places = sub.unsqueeze(sub.compress(sub.sub(sub.cumsum(ones, 0), ones), holds), [1])
        capitalised = sub.compress(words, holds)
        failed: Var | None = None
        for start in range(0, len(pairs), GATED_CHUNK):
            chunk = pairs[start : start + GATED_CHUNK]
            _, present = _any_holds(sub, capitalised, tuple(c for c, _ in chunk))

            def replace(branch: GraphBuilder, chunk=chunk, w: Var = capitalised) -> list[Var]:
                replaced, too_many = _replace_letters(branch, w, chunk)
                return [replaced, too_many]

            def keep(branch: GraphBuilder, w: Var = capitalised) -> list[Var]:
                empty = branch.equal(w, _string_const(branch, [""], "empty"))
                return [w, branch.logical_and(empty, branch.logical_not(empty))]

            capitalised, too_many = sub.if_(present, replace, keep, [1, 1], hint="lowercase")
            failed = too_many if failed is None else sub.logical_or(failed, too_many)
        assert failed is not None
        return [sub.scatter_nd(words, places, capitalised), sub.compress(sub.compress(positions, holds), failed)]

    def keep(sub: GraphBuilder) -> list[Var]:
        none = sub.compress(positions, sub.logical_not(sub.equal(positions, positions)))
        return [words, none]

    return tuple(graph.if_(any_mapped, lowercase, keep, [1, 1], hint="lowercase"))  # type: ignore[return-value]


def _ones_like_int(graph: GraphBuilder, values: Var) -> Var:
    return graph.add(graph.mul(values, _zero(graph)), graph.const(np.int64(1), "one"))


def terms(graph: GraphBuilder, words: Var, rows: Var, ngram_range: tuple[int, int]) -> tuple[Var, Var]:
    """The n-grams of ``ngram_range`` of each row's tokens (joined by a space, as sklearn's ``_word_ngrams``),
    and the row of each."""
    low, high = ngram_range
    grams, gram_rows = ([words], [rows]) if low == 1 else ([], [])
    space = _string_const(graph, [" "], "space")
    end = np.iinfo(np.int64).max
    for n in range(max(low, 2), high + 1):
        # gram i joins tokens i .. i + n - 1, kept where they belong to one row.
        joined = graph.slice(words, [0], [-(n - 1)])
        for k in range(1, n):
            following = graph.slice(words, [k], [end if k == n - 1 else -(n - 1 - k)])
            joined = graph.string_concat(graph.string_concat(joined, space), following)
        first, last = graph.slice(rows, [0], [-(n - 1)]), graph.slice(rows, [n - 1], [end])
        same = graph.equal(first, last)
        grams.append(graph.compress(joined, same))
        gram_rows.append(graph.compress(first, same))
    if len(grams) == 1:
        return grams[0], gram_rows[0]
    return graph.concat(grams, axis=0), graph.concat(gram_rows, axis=0)


def vocabulary_columns(graph: GraphBuilder, grams: Var, vocabulary: list[str]) -> tuple[Var, Var]:
    """Which of ``grams`` (1-D strings) are terms of ``vocabulary`` (bool), and the column of each of those
    (int64, in order).

    The lookup is ONNX's ``TfIdfVectorizer`` (default domain, opset 9) on the grams, one per row: its pool is the
    vocabulary, so ONNX Runtime builds the table once, when it loads the model. Each node maps a term to one
    digit of its column and counts it there (the fewest digits whose base is at most :data:`MAX_LOOKUP_WIDTH`,
    each node's output that wide); a ``MatMul`` of the row with ``1, 2, ...`` gives the digit plus one, and 0 for
    a row without a term (a gram outside the vocabulary). The first digit's node sees every gram, the others
    only the terms. Every gram is looked up, repeats included: ONNX Runtime's string ``Unique`` costs about two
    lookups per string (130-160 ns against ~65 ns a lookup, 4,400 and 44,000 words, one thread), and its
    ``ArgMax`` several times the ``MatMul``. The node refuses an empty batch, so an ``If`` skips it then."""
    ids = np.arange(len(vocabulary), dtype=np.int64)
    n_digits = 1
    while MAX_LOOKUP_WIDTH**n_digits < len(vocabulary):
        n_digits += 1
    base = max(2, int(np.ceil(len(vocabulary) ** (1 / n_digits))))
    zero = _zero(graph)

    def digit(sub: GraphBuilder, terms: Var, scale: int) -> Var:
        """Each of ``terms``' digit of weight ``scale``, plus one (0 for a gram outside the vocabulary)."""
        digits = (ids // scale) % base
        counts = sub._node(
            "TfIdfVectorizer",
            [sub.reshape(terms, [-1, 1])],
            np.float32,
            mode="TF",
            min_gram_length=1,
            max_gram_length=1,
            max_skip_count=0,
            ngram_counts=[0],
            ngram_indexes=digits.tolist(),
            pool_strings=list(vocabulary),
        )
        places = sub.const(np.arange(1, int(digits.max()) + 2), "digit_places", dtype=np.float32)
        return sub.cast(sub.matmul(counts, places), np.int64)

    def if_any(sub: GraphBuilder, strings: Var, then: Any, otherwise: Any, n_outputs: int) -> list[Var]:
        return sub.if_(_non_empty(sub, strings), then, otherwise, [1] * n_outputs, hint="lookup")

    def look_up(sub: GraphBuilder) -> list[Var]:
        first = digit(sub, grams, 1)
        found = sub.greater(first, zero)
        if base >= len(vocabulary):
            return [found, sub.sub(sub.compress(first, found), sub.const(np.int64(1), "one"))]
        terms = sub.compress(grams, found)

        def higher_digits(branch: GraphBuilder) -> list[Var]:
            column, offset, scale = branch.compress(first, found), 1, base
            while scale < len(vocabulary):
                part = branch.mul(digit(branch, terms, scale), branch.const(np.int64(scale), "scale"))
                column, offset, scale = branch.add(column, part), offset + scale, scale * base
            return [branch.sub(column, branch.const(np.int64(offset), "offset"))]

        def no_terms(branch: GraphBuilder) -> list[Var]:
            return [_ones_like(branch, terms)]  # empty

        return [found, *if_any(sub, terms, higher_digits, no_terms, 1)]

    def nothing(sub: GraphBuilder) -> list[Var]:
        none = _ones_like(sub, grams)  # empty
        return [sub.greater(none, zero), none]

    found, columns = if_any(graph, grams, look_up, nothing, 2)
    return found, columns


def _runs(graph: GraphBuilder, keys: Var) -> tuple[Var, Var]:
    """The distinct values of the 1-D int64 ``keys`` in increasing order and how often each occurs: sorted by
    TopK (several times faster than ONNX Runtime's Unique on integers), then cut where the value changes."""
    ones = _ones_like_int(graph, keys)
    total = graph.reshape(graph.reduce_sum(ones, [0]), [1])
    ordered, _ = graph.topk(keys, total, axis=0, largest=False)
    previous = graph.concat([graph.int64s([-1], "before_first"), graph.slice(ordered, [0], [-1])], axis=0)
    starts = graph.logical_not(graph.equal(ordered, previous))
    first = graph.compress(graph.sub(graph.cumsum(ones, 0), ones), starts)
    following = graph.concat([graph.slice(first, [1], [np.iinfo(np.int64).max]), total], axis=0)
    return graph.compress(ordered, starts), graph.sub(following, first)


def count_terms(
    graph: GraphBuilder,
    documents: Var,
    vocabulary: list[str],
    analyzer: Analyzer,
    *,
    binary: bool,
) -> SparseRows:
    """CountVectorizer's ``transform`` of ``documents`` (1-D strings) as sparse rows of the graph's dtype, one
    column per term of ``vocabulary`` (in column order)."""
    words, rows, bad = tokens(graph, documents, analyzer)
    grams, gram_rows = terms(graph, words, rows, analyzer.ngram_range)
    width = len(vocabulary)
    known, columns = vocabulary_columns(graph, grams, vocabulary)
    n = graph.const(np.int64(width), "n")
    entry_keys = graph.add(graph.mul(graph.compress(gram_rows, known), n), columns)
    keys, counts = _runs(graph, entry_keys)
    entry_rows, entry_columns = graph.div(keys, n), graph.mod(keys, n)
    values = graph.cast(counts, graph.dtype)
    if binary:
        values = graph.div(values, values)
    # Rows the graph cannot reproduce: their values NaN, and a NaN entry in column 0 (also for empty rows).
    nan = graph.const(np.nan, "nan")
    values = graph.where(graph.take(bad, entry_rows), nan, values)
    batch_ones = _ones_like(graph, documents)
    bad_rows = graph.compress(graph.sub(graph.cumsum(batch_ones, 0), batch_ones), bad)
    zero_columns = graph.mul(bad_rows, _zero(graph))
    nan_values = graph.add(graph.cast(zero_columns, graph.dtype), nan)
    batch_zeros = graph.cast(graph.mul(batch_ones, _zero(graph)), np.float64)
    return SparseRows(
        graph.concat([values, nan_values], axis=0),
        graph.concat([entry_columns, zero_columns], axis=0),
        graph.concat([entry_rows, bad_rows], axis=0),
        batch_zeros,
        width,
    )


def _python_class(code_points: list[int]) -> str:
    """A Python ``re`` character class body of ``code_points`` (sorted), as ranges of escapes."""
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in _ranges(code_points))


@functools.cache
def _untokenizable_pattern(lowercase: bool, strip_accents: str | None) -> re.Pattern[str]:
    """A character the graph cannot handle: not a word character nor a separator, or one of
    :func:`unhandled_characters`. One negated class: the characters it handles."""
    handled = _word_table().copy()
    handled[[ord(" "), *map(ord, COMMON_SEPARATORS), *(ord(c) for group in separator_groups() for c in group)]] = True
    handled[list(unhandled_characters(lowercase, strip_accents))] = False
    return re.compile(f"[^{_python_class(np.flatnonzero(handled).tolist())}]")


@functools.cache
def _mapped_pattern(lowercase: bool, strip_accents: str | None) -> re.Pattern[str] | None:
    mapping = letter_mapping(lowercase, strip_accents)
    return re.compile(f"[{_python_class(sorted(ord(c) for c, _ in mapping))}]") if mapping else None


@functools.cache
def _joined_pattern(lowercase: bool, strip_accents: str | None) -> re.Pattern[str] | None:
    deleted = deleted_separators(lowercase, strip_accents)
    return re.compile(f"\\w[{_python_class(list(deleted))}]+\\w") if deleted else None


def untokenizable(document: str, lowercase: bool, strip_accents: str | None = None) -> str | None:
    """Why the graph cannot tokenize ``document`` as sklearn does (and gives NaN for it), or None when it can:
    the same rules as the graph's (module docstring)."""
    if document.isascii() and "\x00" not in document:
        return None  # every ASCII character but NUL is a word character or a separator, and preprocessing keeps it
    found = _untokenizable_pattern(lowercase, strip_accents).search(document)
    if found is not None:
        character = found.group()
        where = f"{character!r} (U+{ord(character):04X})"
        if _is_word(character) or (character != "\x00" and processed(character, lowercase, strip_accents) != character):
            how = "lowercase" if strip_accents is None else "lowercase or strip of accents as sklearn does"
            return f"the character {where}, which the graph cannot {how}"
        return f"the character {where}, which the graph cannot split words on"
    joined = _joined_pattern(lowercase, strip_accents)
    if joined is not None:
        found = joined.search(document)
        if found is not None:
            return (
                f"{found.group()!r}, whose middle character sklearn's strip_accents deletes, joining two words the "
                "graph keeps apart"
            )
    mapped = _mapped_pattern(lowercase, strip_accents)
    if mapped is not None and mapped.search(document):
        for word in re.findall(r"\w+", document):
            for character in set(mapped.findall(word)):
                if word.count(character) > MAX_CAPITAL_REPEATS:
                    return (
                        f"the word {word!r}, holding {character!r} more than {MAX_CAPITAL_REPEATS} times, which the "
                        "graph does not rewrite"
                    )
    return None
