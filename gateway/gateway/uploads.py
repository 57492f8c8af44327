"""CSV uploads at the edge: bytes to text (UTF-8, UTF-16 or GB18030) and text to RPC-sized parts
that end on record boundaries, so a large file travels as several bounded calls."""

import codecs

from crm_common.errors import ValidationFailed

# Encodings a client may name; without one, a byte-order mark decides, else UTF-8, else GB18030
# (what Excel writes on Chinese Windows when it saves "CSV").
ENCODINGS = ("utf-8", "utf-16", "gb18030", "gbk", "big5", "shift_jis", "latin-1")
# Characters per RPC call: at most a few MB on the wire even when every character is escaped.
PART_CHARS = 1_000_000


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed("the file cannot be read", [{"field": "file", "message": message}])


def decode_csv(data: bytes, encoding: str | None = None) -> str:
    """The file's text; ValidationFailed (422) when it is not in the encoding given or guessed."""
    if encoding:
        name = encoding.strip().lower()
        if name not in ENCODINGS:
            raise ValidationFailed(
                "unknown encoding", [{"field": "encoding", "message": f"must be one of {', '.join(ENCODINGS)}"}]
            )
        try:
            text = data.decode({"utf-8": "utf-8-sig"}.get(name, name))
        except UnicodeDecodeError as exc:
            raise _refuse(f"is not valid {name} at byte {exc.start}") from None
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _refuse(f"is not valid UTF-16 at byte {exc.start}") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise _refuse("is neither UTF-8 nor GB18030; name its encoding") from None
    text = text.removeprefix("\ufeff")
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")  # old Mac line ends
    return text


def split_records(text: str, limit: int = PART_CHARS) -> list[str]:
    """`text` cut into parts of about `limit` characters, each ending at a line end outside any
    quoted cell (an even number of quotes so far, as RFC 4180 doubles quotes inside cells)."""
    parts: list[str] = []
    start = pos = quotes = 0
    size = len(text)
    while pos < size:
        end = text.find("\n", pos)
        end = size if end < 0 else end + 1
        quotes += text.count('"', pos, end)
        pos = end
        if quotes % 2 == 0 and pos - start >= limit:
            parts.append(text[start:pos])
            start = pos
    if start < size or not parts:
        parts.append(text[start:])
    return parts
