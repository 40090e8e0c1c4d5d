"""Words as search sees them: stems, the query a visitor typed, highlighted snippets.
Pure (no I/O), shared by the store (what the SQLite index holds, how a query is
written for each engine) and the pages (which words of a hit to mark).

Why stems: Dutch plurals and verb forms ("bomen" → "boom", "straten" → "straat",
"fietsen" → "fiets") otherwise miss each other; Snowball's Dutch and English stemmers
are the ones PostgreSQL's ``dutch``/``english`` configurations use. Why a prefix match
on the stem: Dutch glues words together ("fiets" should find "fietspad", "afval"
"afvalinzameling"). bench/search.py measures what each step adds to recall
(docs/search.md has the figures).

Everything here reads visitor input (the query): it is reduced to word characters
before any engine sees it, so no query syntax of FTS5 or tsquery can be injected.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re

import snowballstemmer

from fedi_forum.activitypub.content import html_to_text

MAX_TERMS = 8  # words of a query used; the rest are ignored
MAX_TERM = 40  # characters of one word
MIN_PREFIX = 4  # shorter stems match whole words only ("de*" would match most words)
# Letters and digits: what FTS5's unicode61 tokenizer keeps together, so each word of a
# query is one token there (the index holds no positions for phrases: store/search.py).
_WORD = re.compile(r"[^\W_]+")

# Words too common to narrow a search (the core of Snowball's Dutch and English lists),
# left out of every query. PostgreSQL's configurations drop the same kind of words from
# what they index, so both engines answer "bomen in de straat" alike.
STOPWORDS = frozenset(
    "de het een en in van op te dat die is voor met aan er of niet ook als bij om dan "  # noqa: SIM905
    "naar maar zijn was wat over tot uit nog al door ik je jij u we wij ze zij hij "
    "the a an and of to is for on with at or by be it this that are as from".split()
)

_STEMMERS = {
    "nl": snowballstemmer.stemmer("dutch"),
    "en": snowballstemmer.stemmer("english"),
}


def _language(lang: str | None) -> str:
    """Our two languages; anything else (an unknown remote note) is read as Dutch,
    the language of the forums this serves."""
    return "en" if lang and lang.lower().startswith("en") else "nl"


@functools.lru_cache(maxsize=65_536)
def stem(word: str, lang: str) -> str:
    """One lower-case word's stem. Cached: words follow Zipf's law, so most lookups
    of an inbox's replies are hits (bench/search.py: index cost per reply)."""
    return str(_STEMMERS[lang].stemWord(word))


def words(text: str) -> list[str]:
    return [w[:MAX_TERM] for w in _WORD.findall(text.lower())]


def stems_of(fragment: str, lang: str | None) -> str:
    """What the SQLite index holds of a note (HTML) or title: its words' stems in the
    note's language, space-separated. Called by the index triggers inside the writer's
    transaction: what ``prepare`` made beforehand is taken, not made again."""
    language = _language(lang)
    made = _prepared.pop((fragment, language), None)
    if made is not None:
        return made
    return _stems(fragment, language)


def _stems(fragment: str, language: str) -> str:
    # A word of digits only passes as it is: Snowball changes no string without letters
    # (tests/unit/test_protocol.py checks both stemmers), and numbers (years, amounts,
    # house numbers, the bench's "Reactie 1234") are mostly unique, so each would run
    # the stemmer in full (14-18 µs) and push a real word out of ``stem``'s cache.
    return " ".join(w if w.isdigit() else stem(w, language) for w in words(html_to_text(fragment)))


# Stems made before a write, by the request that is about to store the note: the writer
# (one at a time across processes, docs/architecture.md "Storage") then only inserts.
# Keyed by the exact text and language, so a miss only costs the work. Bounded.
_prepared: dict[tuple[str, str], str] = {}
MAX_PREPARED = 1_024


def prepare(fragment: str, lang: str | None) -> None:
    """Make a note's stems now (on the request's thread), for the write that follows."""
    language = _language(lang)
    if len(_prepared) >= MAX_PREPARED:
        _prepared.clear()  # writes that never came (refused): start over
    _prepared[(fragment, language)] = _stems(fragment, language)


@dataclasses.dataclass(frozen=True, slots=True)
class Terms:
    """A query reduced to its words and their stems (in both languages: a query does
    not say its language)."""

    words: tuple[str, ...]
    common_only: bool = False  # the query had words, all too common to search for

    @classmethod
    def parse(cls, query: str) -> Terms:
        unique = tuple(dict.fromkeys(w for w in words(query) if len(w) >= 2))
        meaningful = tuple(w for w in unique if w not in STOPWORDS)
        return cls(meaningful[:MAX_TERMS], common_only=bool(unique) and not meaningful)

    def __bool__(self) -> bool:
        return bool(self.words)

    def stems(self, word: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(stem(word, lang) for lang in _STEMMERS))

    def fts5(self) -> str:
        """SQLite FTS5 MATCH: every word (AND), each as any of its stems, a prefix
        where the stem is long enough. Only quoted word characters reach FTS5."""
        groups = []
        for word in self.words:
            alternatives = [
                f'"{s}"*' if len(s) >= MIN_PREFIX else f'"{s}"' for s in self.stems(word)
            ]
            groups.append("(" + " OR ".join(alternatives) + ")")
        return " AND ".join(groups)

    def tsquery(self) -> list[str]:
        """One ``to_tsquery`` argument per word for PostgreSQL (the store ORs the
        ``dutch`` and ``english`` readings of each and ANDs the words)."""
        return [f"{w}:*" if len(w) >= MIN_PREFIX else w for w in self.words]


@functools.lru_cache(maxsize=256)
def _matchers(terms: Terms) -> tuple[frozenset[str], tuple[str, ...]]:
    """The query's stems matched whole, and those matched as prefixes (as ``fts5``)."""
    stems = [s for word in terms.words for s in terms.stems(word)]
    return frozenset(stems), tuple(s for s in stems if len(s) >= MIN_PREFIX)


SNIPPET_WORDS = 36


def snippet(fragment: str, lang: str | None, terms: Terms) -> str:
    """HTML (every piece escaped here): about ``SNIPPET_WORDS`` words of the note
    around its first match, the matched words in ``<mark>``, "…" where cut."""
    text = html_to_text(fragment)
    spans = [m.span() for m in _WORD.finditer(text)]
    exact, prefixes = _matchers(terms)
    language = _language(lang)
    hits = set()
    for i, (a, b) in enumerate(spans):
        found = stem(text[a:b].lower()[:MAX_TERM], language)
        if found in exact or found.startswith(prefixes):
            hits.add(i)
    first = min(hits) if hits else 0
    start = max(0, first - SNIPPET_WORDS // 3)
    end = min(len(spans), start + SNIPPET_WORDS)
    if not spans:
        return html.escape(text)
    out = ["…" if start > 0 else ""]
    cursor = spans[start][0] if start > 0 else 0  # from the start: what precedes a word too
    for i in range(start, end):
        a, b = spans[i]
        out.append(html.escape(text[cursor:a]))
        word = html.escape(text[a:b])
        out.append(f"<mark>{word}</mark>" if i in hits else word)
        cursor = b
    tail = text[cursor:] if end == len(spans) else ""
    out.append(html.escape(tail))
    if end < len(spans):
        out.append("…")
    return "".join(out).strip()
