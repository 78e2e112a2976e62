"""Text analysis for the lexical index: language detection, tokens, stems, Japanese segmentation.

The same ``index_terms`` function prepares both the stored text and (through ``query_terms``) the
query, so the FTS5 table only ever sees space-separated, already-normalised terms.

- Latin-script languages: NFKC, lower case, words of letters/digits, stop words dropped, Snowball
  stem of the text's language (en, fr, de, es, it, nl, pt, ... whatever PyStemmer has).
- Japanese (and any run of kanji/kana inside other text): FTS5's default tokenizer would keep a
  whole run of kanji/kana as one token, so those runs are segmented with SudachiPy (short units,
  dictionary forms) and particles, auxiliaries and symbols are dropped.
- Queries are stemmed in every indexed language (plus the surface form): a short query's language
  is often mis-detected, and OR-ing a few variant stems costs little while a missed stem loses the
  document entirely.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable

from .stopwords import STOPWORDS

STEMMER_LANGUAGES = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "ru": "russian",
    "pl": "polish",
}

_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_CJK_RUN = re.compile(f"[{_CJK}ー々〆ヵヶ0-9０-９]*[{_CJK}][{_CJK}ー々〆ヵヶ0-9０-９]*")
_KANA = re.compile("[\u3040-\u30ff]")
_WORD = re.compile(r"\w+", re.UNICODE)
_HAN = re.compile("[\u4e00-\u9fff]")
_HANGUL = re.compile("[\uac00-\ud7af]")

_DETECT_LANGS = ["en", "fr", "de", "es", "it", "nl", "pt", "ja", "zh", "ko", "ru", "pl", "sv", "da", "no", "fi"]


@functools.lru_cache(maxsize=1)
def _langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(_DETECT_LANGS)
    return ident


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's main language, or "" when there is too little text to tell."""
    sample = text[:2000]
    if not sample.strip():
        return ""
    kana = len(_KANA.findall(sample))
    if kana >= 3 or (kana and kana / max(1, len(sample.strip())) > 0.05):
        return "ja"
    letters = sum(ch.isalpha() for ch in sample)
    if letters < 3:
        return ""
    if len(_HANGUL.findall(sample)) > letters * 0.3:
        return "ko"
    if len(_HAN.findall(sample)) > letters * 0.3:
        return "zh"
    lang, _prob = _langid().classify(sample)
    return str(lang)


@functools.lru_cache(maxsize=32)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(STEMMER_LANGUAGES[language])


_stem_lock = threading.Lock()


def stem_words(words: list[str], language: str) -> list[str]:
    if language not in STEMMER_LANGUAGES:
        return words
    with _stem_lock:  # PyStemmer objects are not thread-safe
        return list(_stemmer(language).stemWords(words))


class _Sudachi(threading.local):
    def __init__(self) -> None:
        from sudachipy import dictionary

        self.tokenizer = dictionary.Dictionary(dict="core").tokenizer(mode="A")


_sudachi: _Sudachi | None = None
_SKIP_POS = {"助詞", "助動詞", "補助記号", "記号", "空白"}


def japanese_terms(text: str) -> list[str]:
    """Dictionary forms of the content words of a Japanese run (SudachiPy, short units)."""
    global _sudachi
    if _sudachi is None:
        _sudachi = _Sudachi()
    out: list[str] = []
    # Sudachi refuses inputs over ~49k bytes; runs are short in practice but be safe.
    for start in range(0, len(text), 4000):
        for m in _sudachi.tokenizer.tokenize(text[start : start + 4000]):
            if m.part_of_speech()[0] in _SKIP_POS:
                continue
            term = m.normalized_form().lower()
            if term.strip():
                out.append(term)
    return out


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _words(segment: str, language: str) -> list[str]:
    stop = STOPWORDS.get(language, frozenset())
    return [w for w in _WORD.findall(segment) if w not in stop and not (len(w) == 1 and w.isalpha())]


def index_terms(text: str, language: str) -> list[str]:
    """Terms as stored in the lexical index for a text in ``language``."""
    text = normalise(text)
    terms: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            terms.extend(stem_words(_words(text[pos : m.start()], language), language))
        terms.extend(japanese_terms(m.group()))
        pos = m.end()
    if pos < len(text):
        terms.extend(stem_words(_words(text[pos:], language), language))
    return terms


def query_terms(query: str, languages: Iterable[str]) -> list[str]:
    """Distinct terms for a query: its words stemmed in each given language plus the plain form."""
    text = normalise(query)
    seen: dict[str, None] = {}
    pos = 0
    plain: list[str] = []
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            plain.extend(_WORD.findall(text[pos : m.start()]))
        for t in japanese_terms(m.group()):
            seen.setdefault(t, None)
        pos = m.end()
    if pos < len(text):
        plain.extend(_WORD.findall(text[pos:]))
    langs = [lang for lang in dict.fromkeys(languages) if lang in STEMMER_LANGUAGES]
    all_stop = set().union(*(STOPWORDS.get(lang, frozenset()) for lang in langs)) if langs else set()
    words = [w for w in plain if w not in all_stop and not (len(w) == 1 and w.isalpha())]
    for w in words:
        seen.setdefault(w, None)
    for lang in langs:
        for s in stem_words(words, lang):
            seen.setdefault(s, None)
    return list(seen)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’)\]]*\s+|(?<=[。！？])|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (stripped, non-empty), in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start() if m.end() > m.start() else m.end()
        _add_span(text, start, end, spans)
        start = m.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def estimate_tokens(text: str) -> int:
    """A cheap estimate of subword tokens (E5/XLM-R vocabulary): CJK ~1/char, others ~1.4/word."""
    cjk = len(re.findall(f"[{_CJK}]", text))
    words = len(_WORD.findall(text)) - len(_CJK_RUN.findall(text))
    return int(cjk * 0.9 + max(0, words) * 1.4 + 0.2 * text.count(","))
