"""Text helpers both search adapters share: query terms, CJK bigrams, highlights, cursors."""

import base64
import html
import json
import re

from ..errors import BadRequest

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never part of a term: SQLite cuts a match string at a NUL
MAX_TERMS = 8
MAX_QUERY_LENGTH = 200


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


def highlight(text: str, terms: list[str], width: int = 60) -> str | None:
    """The first passage of `text` containing a term, HTML-escaped, with every term wrapped in <mark>."""
    lowered = text.lower()
    positions = [lowered.find(t) for t in terms if t and lowered.find(t) >= 0]
    if not positions:
        return None
    start = max(0, min(positions) - width // 2)
    passage = text[start : start + width * 2]
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
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
    return values
