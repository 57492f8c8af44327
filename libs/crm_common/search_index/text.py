"""Text helpers both search adapters share: query terms, CJK bigrams, typo distance, recency,
highlights, cursors."""

import base64
import html
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from ..errors import BadRequest
from . import RANGEABLE

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never part of a term: SQLite cuts a match string at a NUL
MAX_TERMS = 8
MAX_QUERY_LENGTH = 200
WORD = re.compile(r"[^\W\d_]+")  # runs of letters: the words a typo'd term is compared with
TYPO_MIN_LENGTH = 4  # shorter terms match by prefix or substring only: one edit away is too much
TWO_TYPOS_FROM_LENGTH = 8
RECENCY_HALF_LIFE_DAYS = 90.0
RECENCY_WEIGHT = 0.5


def query_terms(text: str) -> list[str]:
    """Whitespace-separated terms, lower-cased, de-duplicated; bounded so a query stays cheap."""
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(f"query longer than {MAX_QUERY_LENGTH} characters")
    terms: list[str] = []
    for raw in CONTROL.sub(" ", text).lower().split():
        term = raw.strip("\"'()*:^+-")
        if term and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def keyword_values(fields: dict[str, Any]) -> list[str]:
    """The human text among a doc's keyword fields (statuses, grades, kinds), searched like its
    body by both adapters. Ids (fields named *_id), dates and numbers are nothing anyone types."""
    return [
        value
        for name, value in fields.items()
        if isinstance(value, str) and not name.endswith("_id") and name not in RANGEABLE
    ]


def has_cjk(term: str) -> bool:
    return bool(CJK.search(term))


def cjk_grams(text: str) -> str:
    """Unigrams and bigrams of every CJK run, space-separated: the cjk_bigram idea, so that a
    two-character Chinese name matches inside a longer run."""
    grams: list[str] = []
    for run in CJK_RUN.findall(text):
        grams.extend(run)
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return " ".join(grams)


def max_typos(term: str) -> int:
    """Edits a term tolerates: 0 under 4 letters (and for anything not purely alphabetic: phone
    digits, emails, CJK), 1 for 4-7 letters, 2 from 8 letters (Elasticsearch's fuzziness AUTO:4,8)."""
    if len(term) < TYPO_MIN_LENGTH or not term.isalpha() or has_cjk(term):
        return 0
    return 2 if len(term) >= TWO_TYPOS_FROM_LENGTH else 1


def typo_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: a swap of neighbours is one edit),
    or limit + 1 as soon as it must exceed `limit`: callers only ask "within limit?"."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def is_typo_of(term: str, word: str) -> bool:
    """True when `word` (lower-case) is within the term's typo allowance and starts with the same
    letter: people rarely mistype the first letter, and it keeps the candidate set small."""
    allowed = max_typos(term)
    return bool(allowed and word and word[0] == term[0] and typo_distance(term, word, allowed) <= allowed)


def words(text: str) -> list[str]:
    """The lower-cased words (letter runs) of a text, in order."""
    return WORD.findall(text.lower())


def typo_words(text: str, terms: list[str]) -> set[str]:
    """The words of `text` that a typo-tolerant term matches without containing it (fuzzy-only)."""
    found = set()
    for word in set(words(text)):
        for term in terms:
            if term not in word and is_typo_of(term, word):
                found.add(word)
    return found


def parse_instant(value: str) -> datetime | None:
    """An ISO date or date-time as an aware datetime (naive ones taken as UTC), None if unreadable."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_now(now: str | None) -> datetime:
    """SearchQuery.now as a datetime; a bad value is a BadRequest. None is the start of the
    current UTC day: a 90-day half-life does not care about hours, and a score that moved with
    the clock would shift between two page requests and the cursor would skip or repeat hits."""
    if now is None:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = parse_instant(now)
    if moment is None:
        raise BadRequest("invalid now: expected an ISO date-time")
    return moment


def highlight(text: str, terms: list[str], width: int = 60) -> str | None:
    """The first passage of `text` containing a term (or a word a term matches with a typo),
    HTML-escaped, with every such term or word wrapped in <mark>."""
    lowered = text.lower()
    marked_words = sorted(set(terms) | typo_words(text, terms), key=len, reverse=True)
    positions = [lowered.find(t) for t in marked_words if t and lowered.find(t) >= 0]
    if not positions:
        return None
    start = max(0, min(positions) - width // 2)
    passage = text[start : start + width * 2]
    alternatives = "|".join(re.escape(t) for t in marked_words)
    pattern = re.compile(f"({alternatives})", re.I)
    # The result is rendered as HTML (that is what <mark> is for), so the record's own text is escaped.
    # split() with a capturing group puts the matched terms at the odd indexes.
    pieces = [html.escape(piece, quote=False) for piece in pattern.split(passage)]
    marked = "".join(f"<mark>{piece}</mark>" if i % 2 else piece for i, piece in enumerate(pieces))
    return ("…" if start else "") + marked + ("…" if start + width * 2 < len(text) else "")


def encode_search_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_search_cursor(cursor: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except ValueError:
        raise BadRequest("invalid cursor") from None
    if (
        not isinstance(values, list)
        or len(values) != 2
        or isinstance(values[0], bool)
        or not isinstance(values[0], (int, float))
        or not isinstance(values[1], str)
    ):
        raise BadRequest("invalid cursor")
    try:  # a score is a finite float: a huge integer would overflow SQLite's, NaN compares to nothing
        score = float(values[0])
    except OverflowError:
        raise BadRequest("invalid cursor") from None
    if not math.isfinite(score):
        raise BadRequest("invalid cursor")
    return [score, values[1]]
