"""A local Elasticsearch 8 stand-in: records every request, answers the ones ElasticIndex makes."""

import copy
import fnmatch
import json
import math
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cmp_to_key
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# What the stub emulates, and no more: analysis is derived from the mapping the client sent, but
# only the standard tokenizer (approximated: no full UAX#29), the ngram tokenizer without
# token_chars, the letter and lowercase tokenizers (the built-in `simple` analyzer) and the
# lowercase and cjk_bigram filters are known; anything else is refused with a 400 so a test never
# passes against analysis the stub only pretends to do. Scores are the sum of the boosts of the
# matching clauses (the best one for dis_max), not BM25, then function_score's functions, rounded
# to float32 like Lucene's. Dates are strict_date_optional_time or epoch millis. One shard, no
# replicas, no auto-created indices. Known leniency: a multi-field added by a mapping update is
# read from _source for docs indexed before it (Elasticsearch leaves them without it until they
# are written again).

CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
SINGLE_CHAR_SCRIPTS = re.compile(r"[\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"\w+(?:[.']\w+)*")
CLUSTER_VERSION = "8.19.0"
# strict_date_optional_time: a date, optionally a time (hours, minutes, seconds, a fraction) and a zone.
STRICT_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
TIME_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}


class EsError(Exception):
    def __init__(self, status: int, error_type: str, reason: str, **extra: Any):
        super().__init__(reason)
        self.status, self.error_type, self.reason, self.extra = status, error_type, reason, extra

    def body(self) -> dict:
        cause = {"type": self.error_type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def unsupported(what: str) -> EsError:
    return EsError(400, "illegal_argument_exception", f"es_stub does not emulate {what}")


def parse_date(value: Any) -> float | None:
    """Epoch milliseconds of a date value as a `date` field with the default format reads it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = STRICT_DATE.fullmatch(str(value))
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:] or 0)) * (1 if zone[0] == "+" else -1)
    millis = moment.timestamp() * 1000 - offset * 60_000
    return millis + (int((fraction or "0").ljust(9, "0")) / 1_000_000)


def parse_number(value: Any) -> float | None:
    """A numeric field's value; numeric strings are coerced, as `coerce` (the default) does."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    body: Any


Token = tuple[str, int]  # (term, position)


# --- analysis -------------------------------------------------------------------------------


def standard_tokenize(text: str) -> list[tuple[str, str, int, int]]:
    """(term, type, start, end): words, each Han or Hiragana character, Katakana and Hangul runs."""
    tokens: list[tuple[str, str, int, int]] = []
    last = 0
    for run in CJK_RUN.finditer(text):
        tokens.extend((m.group(), "<ALPHANUM>", m.start(), m.end()) for m in WORD.finditer(text, last, run.start()))
        i = run.start()
        while i < run.end():
            j = i + 1
            if not SINGLE_CHAR_SCRIPTS.match(text[i]):
                while j < run.end() and not SINGLE_CHAR_SCRIPTS.match(text[j]):
                    j += 1
            tokens.append((text[i:j], "<CJK>", i, j))
            i = j
        last = run.end()
    tokens.extend((m.group(), "<ALPHANUM>", m.start(), m.end()) for m in WORD.finditer(text, last))
    return tokens


def ngram_tokenize(text: str, min_gram: int, max_gram: int) -> list[Token]:
    grams, position = [], 0
    for start in range(len(text)):
        for size in range(min_gram, max_gram + 1):
            if start + size <= len(text):
                grams.append((text[start : start + size], position))
                position += 1
    return grams


def cjk_bigram(tokens: list[tuple[str, str, int, int]], output_unigrams: bool) -> list[Token]:
    """Lucene's CJKBigramFilter: adjacent CJK characters become bigrams (unigrams stacked under)."""
    out: list[Token] = []
    position = -1
    i = 0
    while i < len(tokens):
        term, kind, _start, end = tokens[i]
        if kind != "<CJK>":
            position += 1
            out.append((term, position))
            i += 1
            continue
        chars = list(term)
        while i + 1 < len(tokens) and tokens[i + 1][1] == "<CJK>" and tokens[i + 1][2] == end:
            i += 1
            chars.extend(tokens[i][0])
            end = tokens[i][3]
        i += 1
        if len(chars) == 1:
            position += 1
            out.append((chars[0], position))
            continue
        for k in range(len(chars) - 1):
            position += 1
            if output_unigrams:
                out.append((chars[k], position))
            out.append((chars[k] + chars[k + 1], position))
        if output_unigrams:
            position += 1
            out.append((chars[-1], position))
    return out


def letter_tokenize(text: str) -> list[str]:
    """Lucene's LetterTokenizer: maximal runs of letters (Character.isLetter, str.isalpha)."""
    words, current = [], []
    for char in text:
        if char.isalpha():
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


BUILT_IN_ANALYZERS = {
    "standard": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]},
    "simple": {"type": "custom", "tokenizer": "lowercase"},
}


class Analyzer:
    def __init__(self, name: str, analysis: dict):
        definition = analysis.get("analyzer", {}).get(name) or BUILT_IN_ANALYZERS.get(name)
        if definition is None:
            raise EsError(400, "mapper_parsing_exception", f"analyzer [{name}] has not been configured in mappings")
        if definition.get("type", "custom") != "custom":
            raise unsupported(f"analyzer type [{definition.get('type')}]")
        tokenizer = definition.get("tokenizer", "")
        self.tokenizer = analysis.get("tokenizer", {}).get(tokenizer) or {"type": tokenizer}
        if self.tokenizer["type"] not in ("standard", "ngram", "letter", "lowercase"):
            raise unsupported(f"tokenizer [{tokenizer}]")
        if self.tokenizer["type"] == "ngram" and self.tokenizer.get("token_chars"):
            raise unsupported("ngram token_chars")
        self.filters = []
        for filter_name in definition.get("filter", []):
            spec = analysis.get("filter", {}).get(filter_name) or {"type": filter_name}
            if spec["type"] not in ("lowercase", "cjk_bigram") or set(spec) - {"type", "output_unigrams"}:
                raise unsupported(f"token filter [{filter_name}] {spec}")
            self.filters.append(spec)

    def analyze(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        typed: list[tuple[str, str, int, int]] | None = None  # until cjk_bigram has consumed them
        if self.tokenizer["type"] == "ngram":
            tokens = ngram_tokenize(text, self.tokenizer.get("min_gram", 1), self.tokenizer.get("max_gram", 2))
        elif self.tokenizer["type"] in ("letter", "lowercase"):
            tokens = [(term, position) for position, term in enumerate(letter_tokenize(text))]
            if self.tokenizer["type"] == "lowercase":
                tokens = [(term.lower(), position) for term, position in tokens]
        else:
            typed = standard_tokenize(text)
        for spec in self.filters:
            if spec["type"] == "lowercase":
                if typed is not None:
                    typed = [(term.lower(), *rest) for term, *rest in typed]
                tokens = [(term.lower(), position) for term, position in tokens]
            elif typed is None:
                raise unsupported("cjk_bigram after an ngram tokenizer or twice")
            else:
                tokens, typed = cjk_bigram(typed, bool(spec.get("output_unigrams", False))), None
        if typed is not None:
            tokens = [(term, position) for position, (term, *_rest) in enumerate(typed)]
        return tokens


# --- one index ------------------------------------------------------------------------------

SCALAR_TYPES = {"keyword", "text", "long", "integer", "float", "double", "boolean", "date"}
NUMERIC_TYPES = {"long", "integer", "float", "double"}
# The mapping parameters the stub honours, per field type; any other is refused.
MAPPING_PARAMETERS = {
    "object": {"type", "properties", "dynamic", "enabled"},
    "text": {"type", "analyzer", "search_analyzer", "fields"},
    "keyword": {"type", "fields"},
    "boolean": {"type"},
    "date": {"type", "ignore_malformed"},
    **{kind: {"type", "ignore_malformed", "coerce"} for kind in NUMERIC_TYPES},
}


class StubIndex:
    def __init__(self, name: str, body: dict):
        unknown = set(body) - {"settings", "mappings"}
        if unknown:
            raise EsError(400, "parse_exception", f"unknown key {sorted(unknown)} for create index")
        body = copy.deepcopy(body)  # dynamic fields are added to the mapping; the record stays as sent
        self.name, self.settings = name, body.get("settings", {})
        self.mappings: dict = body.get("mappings", {"properties": {}})
        index_settings = self.settings.get("index", {})
        self.analysis = self.settings.get("analysis") or index_settings.get("analysis") or {}
        max_diff = int(index_settings.get("max_ngram_diff", self.settings.get("index.max_ngram_diff", 1)))
        for tokenizer in self.analysis.get("tokenizer", {}).values():
            if tokenizer.get("type") == "ngram":
                diff = tokenizer.get("max_gram", 2) - tokenizer.get("min_gram", 1)
                if diff > max_diff:
                    raise EsError(
                        400,
                        "illegal_argument_exception",
                        "The difference between max_gram and min_gram in NGram Tokenizer "
                        f"must be less than or equal to: [{max_diff}] but was [{diff}]. "
                        "This limit can be set by changing the [index.max_ngram_diff] "
                        "index level setting.",
                    )
        self.analyzers: dict[str, Analyzer] = {}
        self._check_properties(self.mappings.get("properties", {}), "")
        self.docs: dict[str, dict] = {}  # realtime: what GET sees
        self.searchable: dict[str, dict] = {}  # as of the last refresh: what _search sees
        self.seq_no = 0

    def _check_properties(self, properties: dict, prefix: str) -> None:
        for name, spec in properties.items():
            kind = spec.get("type", "object")
            unknown = set(spec) - MAPPING_PARAMETERS.get(kind, set())
            if unknown:
                raise unsupported(f"mapping parameters {sorted(unknown)} on [{prefix}{name}] of type [{kind}]")
            if kind == "object":
                self._check_properties(spec.get("properties", {}), f"{prefix}{name}.")
            elif kind not in SCALAR_TYPES:
                raise EsError(
                    400, "mapper_parsing_exception", f"No handler for type [{kind}] declared on field [{name}]"
                )
            for analyzer in (spec.get("analyzer"), spec.get("search_analyzer")):
                if analyzer:
                    self.analyzer(analyzer)
            self._check_properties(spec.get("fields", {}), f"{prefix}{name}.")

    def analyzer(self, name: str) -> Analyzer:
        if name not in self.analyzers:
            self.analyzers[name] = Analyzer(name, self.analysis)
        return self.analyzers[name]

    # mapping lookups

    def field(self, path: str) -> tuple[str, dict] | None:
        """(path of the value in _source, field mapping) for a field or multi-field path."""
        properties, spec, source_path = self.mappings.get("properties", {}), None, []
        for part in path.split("."):
            if spec is not None and part in spec.get("fields", {}):
                spec = spec["fields"][part]  # a multi-field reads its parent's value
                continue
            if part not in properties:
                return None
            spec = properties[part]
            source_path.append(part)
            properties = spec.get("properties", {})
        return (".".join(source_path), spec) if spec is not None else None

    def _dynamic_mapping(self, path: str, value: Any) -> dict:
        kind = (
            "string"
            if isinstance(value, str)
            else "boolean"
            if isinstance(value, bool)
            else "long"
            if isinstance(value, int)
            else "double"
            if isinstance(value, float)
            else "object"
        )
        for template in self.mappings.get("dynamic_templates", []):
            (rule,) = template.values()
            if rule.get("match_mapping_type", "*") in ("*", kind) and fnmatch.fnmatchcase(
                path, rule.get("path_match", "*")
            ):
                return dict(rule["mapping"])
        return {
            "string": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "boolean": {"type": "boolean"},
            "long": {"type": "long"},
            "double": {"type": "float"},
            "object": {"type": "object"},
        }[kind]

    def check_document(
        self, source: dict, properties: dict | None = None, prefix: str = "", dynamic: Any = True
    ) -> None:
        """Validate against the mapping, adding dynamic fields as Elasticsearch would."""
        if properties is None:
            properties = self.mappings.setdefault("properties", {})
            dynamic = self.mappings.get("dynamic", True)
        for name, value in source.items():
            path = f"{prefix}{name}"
            if name not in properties:
                if str(dynamic).lower() == "strict":
                    raise EsError(
                        400,
                        "strict_dynamic_mapping_exception",
                        f"[1:1] mapping set to strict, dynamic introduction of [{name}] "
                        f"within [{prefix.rstrip('.') or '_doc'}] is not allowed",
                    )
                if value is None:
                    continue
                if str(dynamic).lower() == "false":
                    continue
                properties[name] = self._dynamic_mapping(path, value)
            spec = properties[name]
            kind = spec.get("type", "object")
            if kind == "object" and spec.get("enabled", True) is False:
                continue  # kept in _source, neither parsed nor indexed
            if kind == "object":
                if value is not None and not isinstance(value, dict):
                    raise EsError(
                        400,
                        "document_parsing_exception",
                        f"object mapping for [{path}] tried to parse field [{name}] as "
                        "object, but found a concrete value",
                    )
                self.check_document(
                    value or {}, spec.setdefault("properties", {}), f"{path}.", spec.get("dynamic", dynamic)
                )
            else:
                for item in value if isinstance(value, list) else [value]:
                    self._check_value(path, spec, item)

    @staticmethod
    def _check_value(path: str, spec: dict, value: Any) -> None:
        if value is None:
            return
        kind, ok = spec["type"], True
        if kind in ("long", "integer"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind in NUMERIC_TYPES:
            ok = parse_number(value) is not None or bool(spec.get("ignore_malformed"))
        elif kind == "boolean":
            ok = isinstance(value, bool) or value in ("true", "false")
        elif kind == "date":
            ok = parse_date(value) is not None or bool(spec.get("ignore_malformed"))
        elif kind in ("keyword", "text"):
            ok = not isinstance(value, dict)
        if not ok:
            raise EsError(
                400, "document_parsing_exception", f"[1:1] failed to parse field [{path}] of type [{kind}] in document"
            )

    # documents

    def write(self, doc_id: str, source: dict, params: dict[str, str]) -> tuple[int, dict]:
        version_type = params.get("version_type", "internal")
        current = self.docs.get(doc_id)
        if version_type == "internal":
            if "version" in params:
                raise EsError(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: internal versioning can not be used for "
                    "optimistic concurrency control. Please use `if_seq_no` and "
                    "`if_primary_term` instead;",
                )
            version = current["_version"] + 1 if current else 1
        elif version_type == "external":
            if "version" not in params:
                raise EsError(
                    400, "action_request_validation_exception", "Validation Failed: 1: an external version is required;"
                )
            version = int(params["version"])
            if version < 0:
                raise EsError(
                    400,
                    "action_request_validation_exception",
                    f"Validation Failed: 1: illegal version value [{version}] for version type [EXTERNAL];",
                )
            if current and current["_version"] >= version:
                reason = (
                    f"[{doc_id}]: version conflict, current version [{current['_version']}] is "
                    f"higher or equal to the one provided [{version}]"
                )
                raise EsError(
                    409, "version_conflict_engine_exception", reason, index_uuid="stub", shard="0", index=self.name
                )
        else:
            raise unsupported(f"version_type [{version_type}]")
        self.check_document(source)
        self.seq_no += 1
        self.docs[doc_id] = {"_version": version, "_seq_no": self.seq_no, "_source": source}
        if params.get("refresh") in ("true", "", "wait_for"):
            self.refresh()
        return (200 if current else 201), {
            "_index": self.name,
            "_id": doc_id,
            "_version": version,
            "result": "updated" if current else "created",
            "_seq_no": self.seq_no,
            "_primary_term": 1,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
        }

    def get(self, doc_id: str) -> tuple[int, dict]:
        doc = self.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": self.name, "_id": doc_id, "found": False}
        return 200, {
            "_index": self.name,
            "_id": doc_id,
            "_version": doc["_version"],
            "_seq_no": doc["_seq_no"],
            "_primary_term": 1,
            "found": True,
            "_source": doc["_source"],
        }

    def refresh(self) -> None:
        self.searchable = {doc_id: doc["_source"] for doc_id, doc in self.docs.items()}

    def put_mapping(self, body: dict) -> None:
        """Add top-level fields; as in Elasticsearch, a mapped field's type cannot change."""
        unknown = set(body) - {"properties"}
        if unknown:
            raise unsupported(f"put mapping with {sorted(unknown)}")
        added = copy.deepcopy(body.get("properties", {}))
        self._check_properties(added, "")
        properties = self.mappings.setdefault("properties", {})
        for name, spec in added.items():
            current = properties.get(name)
            if current is not None and current.get("type", "object") != spec.get("type", "object"):
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    f"mapper [{name}] cannot be changed from type [{current.get('type')}] to [{spec.get('type')}]",
                )
            properties[name] = spec


# --- search ---------------------------------------------------------------------------------


def _values(source: dict, path: str) -> list:
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    values = value if isinstance(value, list) else [value]
    return [v for v in values if v is not None]


def _leaf(spec: Any) -> tuple[Any, float]:
    if isinstance(spec, dict):
        return spec["value"], float(spec.get("boost", 1.0))
    return spec, 1.0


def _single(clause: dict, query_type: str) -> tuple[str, Any]:
    items = [(k, v) for k, v in clause.items() if k != "boost"]
    if len(items) != 1:
        raise EsError(400, "parsing_exception", f"[{query_type}] query doesn't support multiple fields")
    return items[0]


def _parse_bound(value: Any, convert: Callable[[Any], Any], path: str) -> Any:
    if isinstance(value, str) and value.startswith("now"):
        raise unsupported(f"date math [{value}]")
    parsed = convert(value)
    if parsed is None:
        raise EsError(400, "parse_exception", f"failed to parse [{value}] for [{path}]")
    return parsed


def _time_value_ms(value: Any) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(value))
    if not match:
        raise unsupported(f"time value [{value}]")
    return float(match.group(1)) * TIME_UNITS_MS[match.group(2)]


def edit_distance(a: str, b: str, transpositions: bool) -> int:
    """Levenshtein distance, a swap of neighbours one edit with transpositions (optimal string
    alignment, as Lucene's LevenshteinAutomata)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if transpositions and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


class Searcher:
    """Evaluates the query DSL subset ElasticIndex sends; a score or None per document."""

    def __init__(self, index: StubIndex):
        self.index = index

    def _field(self, path: str) -> tuple[str, dict]:
        found = self.index.field(path)
        if found is None:
            return path, {"type": "unmapped"}
        return found

    def _tokens(self, source: dict, path: str) -> list[Token]:
        source_path, spec = self._field(path)
        analyzer = self.index.analyzer(spec.get("analyzer", "standard"))
        tokens: list[Token] = []
        offset = 0
        for value in _values(source, source_path):
            # Array values sit far apart, like position_increment_gap (100).
            tokens.extend((term, position + offset) for term, position in analyzer.analyze(str(value)))
            offset = (max((p for _, p in tokens), default=0)) + 100
        return tokens

    def _terms_equal(self, source: dict, path: str, wanted: Any) -> bool:
        source_path, spec = self._field(path)
        kind = spec.get("type")
        if kind == "text":
            return any(term == str(wanted) for term, _ in self._tokens(source, path))
        if kind == "boolean":
            wanted = wanted if isinstance(wanted, bool) else str(wanted).lower() == "true"
            return any(v is wanted or v == str(wanted).lower() for v in _values(source, source_path))
        if kind == "keyword":
            return _keyword_value(wanted) in (_keyword_value(v) for v in _values(source, source_path))
        if kind == "unmapped":
            return False
        return wanted in _values(source, source_path)

    def score(self, query: dict, source: dict) -> float | None:
        if len(query) != 1:
            raise EsError(400, "parsing_exception", "[_na] query malformed, must start with start_object")
        ((query_type, clause),) = query.items()
        handler: Callable[[Any, dict], float | None] | None = getattr(self, f"q_{query_type}", None)
        if handler is None:
            raise EsError(400, "parsing_exception", f"unknown query [{query_type}]")
        return handler(clause, source)

    def q_match_all(self, clause: dict, source: dict) -> float | None:
        return float(clause.get("boost", 1.0))

    def q_match_none(self, clause: dict, source: dict) -> float | None:
        return None

    def q_bool(self, clause: dict, source: dict) -> float | None:
        unknown = set(clause) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
        if unknown:
            raise EsError(400, "parsing_exception", f"[bool] query does not support {sorted(unknown)}")

        def listed(key: str) -> list[dict]:
            value = clause.get(key, [])
            return value if isinstance(value, list) else [value]

        # Every clause is evaluated, none short-circuited, so an unsupported one is always refused.
        must = [self.score(sub, source) for sub in listed("must")]
        filters = [self.score(sub, source) for sub in listed("filter")]
        must_not = [self.score(sub, source) for sub in listed("must_not")]
        should = [s for s in (self.score(sub, source) for sub in listed("should")) if s is not None]
        if None in must or None in filters or any(s is not None for s in must_not):
            return None
        total = sum(s for s in must if s is not None)
        scoring_or_filtering = clause.get("must") or clause.get("filter") or clause.get("must_not")
        required = clause.get("minimum_should_match", 0 if scoring_or_filtering else 1)
        # As in Elasticsearch, a bool without clauses matches everything, minimum_should_match or not.
        if listed("should") and len(should) < int(required):
            return None
        return (total + sum(should)) * float(clause.get("boost", 1.0))

    def q_term(self, clause: dict, source: dict) -> float | None:
        path, spec = _single(clause, "term")
        value, boost = _leaf(spec)
        return boost if self._terms_equal(source, path, value) else None

    def q_terms(self, clause: dict, source: dict) -> float | None:
        path, values = _single(clause, "terms")
        return 1.0 if any(self._terms_equal(source, path, v) for v in values) else None

    def _indexed(self, path: str, source: dict) -> list:
        """The field's values as indexed: dates as epoch millis, numbers as floats; a malformed
        value (ignore_malformed) is not indexed at all."""
        source_path, spec = self._field(path)
        kind = spec.get("type")
        values = _values(source, source_path)
        if kind == "date":
            return [d for d in map(parse_date, values) if d is not None]
        if kind in NUMERIC_TYPES:
            return [n for n in map(parse_number, values) if n is not None]
        if kind == "unmapped":
            return []
        return values

    def q_exists(self, clause: dict, source: dict) -> float | None:
        return 1.0 if self._indexed(clause["field"], source) else None

    def q_range(self, clause: dict, source: dict) -> float | None:
        path, bounds = _single(clause, "range")
        unknown = set(bounds) - {"gte", "gt", "lte", "lt", "boost"}
        if unknown:
            raise unsupported(f"range parameters {sorted(unknown)}")
        _, spec = self._field(path)
        kind = spec.get("type")
        if kind == "date":
            convert: Callable[[Any], Any] = parse_date
        elif kind in NUMERIC_TYPES:
            convert = parse_number
        elif kind == "keyword":
            convert = str
        else:
            raise unsupported(f"range over a field of type [{kind}]")
        limits = {op: _parse_bound(bounds[op], convert, path) for op in ("gte", "gt", "lte", "lt") if op in bounds}

        def within(value: Any) -> bool:
            return (
                ("gte" not in limits or value >= limits["gte"])
                and ("gt" not in limits or value > limits["gt"])
                and ("lte" not in limits or value <= limits["lte"])
                and ("lt" not in limits or value < limits["lt"])
            )

        values = self._indexed(path, source) if kind != "keyword" else [str(v) for v in self._indexed(path, source)]
        return float(bounds.get("boost", 1.0)) if any(within(v) for v in values) else None

    def q_dis_max(self, clause: dict, source: dict) -> float | None:
        if set(clause) - {"queries", "tie_breaker", "boost"}:
            raise unsupported(f"dis_max parameters {sorted(clause)}")
        found = [s for s in (self.score(sub, source) for sub in clause["queries"]) if s is not None]
        if not found:
            return None
        best = max(found)
        tie = float(clause.get("tie_breaker", 0.0))
        return (best + tie * (sum(found) - best)) * float(clause.get("boost", 1.0))

    def q_fuzzy(self, clause: dict, source: dict) -> float | None:
        path, spec = _single(clause, "fuzzy")
        if not isinstance(spec, dict):
            spec = {"value": spec}
        unknown = set(spec) - {"value", "fuzziness", "prefix_length", "transpositions", "max_expansions", "boost"}
        if unknown:
            raise unsupported(f"fuzzy parameters {sorted(unknown)}")
        value = str(spec["value"])  # a term-level query: the value is not analyzed
        fuzziness = spec.get("fuzziness", "AUTO")
        if fuzziness == "AUTO":
            allowed = 0 if len(value) < 3 else 1 if len(value) < 6 else 2
        elif str(fuzziness) in ("0", "1", "2"):
            allowed = int(fuzziness)
        else:
            raise unsupported(f"fuzziness [{fuzziness}]")
        prefix = value[: int(spec.get("prefix_length", 0))]
        transpositions = bool(spec.get("transpositions", True))
        _, field_spec = self._field(path)
        if field_spec.get("type") == "text":
            candidates = {term for term, _ in self._tokens(source, path)}
        else:
            candidates = {str(v) for v in self._indexed(path, source)}
        matched = any(c.startswith(prefix) and edit_distance(value, c, transpositions) <= allowed for c in candidates)
        return float(spec.get("boost", 1.0)) if matched else None

    def q_function_score(self, clause: dict, source: dict) -> float | None:
        unknown = set(clause) - {"query", "functions", "score_mode", "boost_mode", "boost"}
        if unknown:
            raise unsupported(f"function_score parameters {sorted(unknown)}")
        if clause.get("score_mode", "multiply") != "sum" or clause.get("boost_mode", "multiply") != "multiply":
            raise unsupported("function_score other than score_mode sum, boost_mode multiply")
        relevance = self.score(clause.get("query", {"match_all": {}}), source)
        factors = [f for f in (self._function(spec, source) for spec in clause.get("functions", [])) if f is not None]
        if relevance is None:
            return None
        # As in Lucene's FunctionScoreQuery: no function applying to the doc leaves the score as is.
        factor = sum(factors) if factors else 1.0
        return relevance * factor * float(clause.get("boost", 1.0))

    def _function(self, spec: dict, source: dict) -> float | None:
        """One score function's value for the doc, None when its filter leaves the doc out."""
        kinds = set(spec) - {"filter", "weight"}
        if kinds - {"exp"}:
            raise unsupported(f"score functions {sorted(kinds)}")
        excluded = "filter" in spec and self.score(spec["filter"], source) is None
        weight = float(spec.get("weight", 1.0))
        if "exp" not in spec:
            return None if excluded else weight
        path, decay = _single(spec["exp"], "exp")
        if set(decay) - {"origin", "scale", "decay"}:
            raise unsupported(f"decay parameters {sorted(decay)}")
        if self._field(path)[1].get("type") != "date":
            raise unsupported(f"a decay function over [{path}], not a date field")
        origin = _parse_bound(decay["origin"], parse_date, path)
        scale = _time_value_ms(decay["scale"])
        values = self._indexed(path, source)
        if excluded:
            return None
        if not values:
            return weight  # a doc without the field: the function gives 1
        distance = min(abs(v - origin) for v in values)  # multi_value_mode min
        return weight * math.exp(math.log(float(decay.get("decay", 0.5))) / scale * distance)

    def q_prefix(self, clause: dict, source: dict) -> float | None:
        path, spec = _single(clause, "prefix")
        value, boost = _leaf(spec)
        source_path, field_spec = self._field(path)
        if field_spec.get("type") == "text":
            candidates = [term for term, _ in self._tokens(source, path)]
        else:
            candidates = [str(v) for v in _values(source, source_path)]
        return boost if any(c.startswith(str(value)) for c in candidates) else None

    def q_match_phrase(self, clause: dict, source: dict) -> float | None:
        path, spec = _single(clause, "match_phrase")
        if isinstance(spec, dict):
            if set(spec) - {"query", "boost"}:
                raise unsupported(f"match_phrase parameters {sorted(spec)}")
            text, boost = str(spec["query"]), float(spec.get("boost", 1.0))
        else:
            text, boost = str(spec), 1.0
        return boost if self._phrase(source, path, text) else None

    def q_constant_score(self, clause: dict, source: dict) -> float | None:
        if set(clause) - {"filter", "boost"}:
            raise unsupported(f"constant_score parameters {sorted(clause)}")
        matched = self.score(clause["filter"], source) is not None
        return float(clause.get("boost", 1.0)) if matched else None

    def _phrase(self, source: dict, path: str, text: str) -> bool:
        _, spec = self._field(path)
        if spec.get("type") != "text":
            return False
        analyzer = self.index.analyzer(spec.get("search_analyzer", spec.get("analyzer", "standard")))
        wanted = analyzer.analyze(text)
        if not wanted:
            return False
        at: dict[int, set[str]] = {}
        for term, position in self._tokens(source, path):
            at.setdefault(position, set()).add(term)
        first = wanted[0][1]
        return any(all(term in at.get(base + position - first, ()) for term, position in wanted) for base in at)


SEARCH_KEYS = {"query", "sort", "size", "from", "track_total_hits", "aggs", "aggregations", "_source", "search_after"}


def _sort_specs(sort: list) -> list[tuple[str, bool]]:
    specs = []
    for item in sort:
        if isinstance(item, str):
            specs.append((item, item != "_score"))
            continue
        ((field, order),) = item.items()
        order = order.get("order") if isinstance(order, dict) else order
        specs.append((field, (order or ("desc" if field == "_score" else "asc")) == "asc"))
    return specs


def run_search(index: StubIndex, body: dict) -> dict:
    unknown = set(body) - SEARCH_KEYS
    if unknown:
        raise EsError(400, "parsing_exception", f"Unknown key for a START_OBJECT in {sorted(unknown)}.")
    searcher = Searcher(index)
    query = body.get("query", {"match_all": {}})
    searcher.score(query, {})  # parses the whole query: refused even when no doc would reach a clause
    matched = []
    for doc_id, source in index.searchable.items():
        found = searcher.score(query, source)
        if found is not None:
            matched.append((doc_id, source, float32(found)))

    specs = _sort_specs(body.get("sort", ["_score"]))

    def sort_values(doc_id: str, source: dict, score: float) -> list:
        values = []
        for field, _ in specs:
            if field == "_score":
                values.append(score)
            else:
                found = _values(source, searcher._field(field)[0])
                values.append(found[0] if found else None)
        return values

    def compare(a: list, b: list) -> int:
        for (_, ascending), x, y in zip(specs, a, b, strict=False):
            if x == y:
                continue
            if x is None or y is None:  # missing values sort last either way
                return 1 if x is None else -1
            return (-1 if x < y else 1) * (1 if ascending else -1)
        return 0

    rows = sorted(((sort_values(*m), m) for m in matched), key=cmp_to_key(lambda a, b: compare(a[0], b[0])))
    after = body.get("search_after")
    if after is not None:
        if len(after) != len(specs):
            raise EsError(
                400, "illegal_argument_exception", f"search_after has {len(after)} value(s) but sort has {len(specs)}."
            )
        rows = [row for row in rows if compare(row[0], after) > 0]
    start, size = int(body.get("from", 0)), int(body.get("size", 10))
    hits = []
    for values, (doc_id, source, score) in rows[start : start + size]:
        hit = {
            "_index": index.name,
            "_id": doc_id,
            "_score": score,
            "_source": _filter_source(source, body.get("_source", True)),
        }
        if "sort" in body:
            hit["sort"] = values
        hits.append(hit)
    max_score = None if "sort" in body else max((h["_score"] for h in hits), default=None)
    response: dict[str, Any] = {
        "took": 1,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"max_score": max_score, "hits": hits},
    }
    track = body.get("track_total_hits", 10000)  # the default counts exactly up to 10,000
    if track is not False:
        limit = len(matched) if track is True else int(track)
        response["hits"]["total"] = (
            {"value": len(matched), "relation": "eq"} if len(matched) <= limit else {"value": limit, "relation": "gte"}
        )
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs:
        response["aggregations"] = _aggregate(searcher, aggs, matched)
    return response


def run_count(index: StubIndex, body: dict) -> dict:
    unknown = set(body) - {"query"}
    if unknown:
        raise EsError(400, "parsing_exception", f"request does not support {sorted(unknown)}")
    searcher = Searcher(index)
    query = body.get("query", {"match_all": {}})
    searcher.score(query, {})
    count = sum(1 for source in index.searchable.values() if searcher.score(query, source) is not None)
    return {"count": count, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}


def _filter_source(source: dict, wanted: Any) -> dict | None:
    if wanted is True:
        return source
    if wanted is False:
        return None
    includes = wanted if isinstance(wanted, list) else wanted.get("includes", [])
    return {k: v for k, v in source.items() if k in includes}


def _aggregate(searcher: Searcher, aggs: dict, matched: list) -> dict:
    """terms aggregations, possibly under a sampler: the sub-aggregations see the shard_size
    best-scoring matches (ties in index order, as Lucene's doc ids)."""
    results = {}
    for name, spec in aggs.items():
        if "sampler" in spec:
            if set(spec) != {"sampler", "aggs"} or set(spec["sampler"]) - {"shard_size"}:
                raise unsupported(f"aggregation {spec}")
            size = int(spec["sampler"].get("shard_size", 100))
            order = sorted(range(len(matched)), key=lambda i: (-matched[i][2], i))
            sample = [matched[i] for i in order[:size]]
            results[name] = {"doc_count": len(sample), **_aggregate(searcher, spec["aggs"], sample)}
        else:
            results[name] = _terms_agg(searcher, spec, matched)
    return results


def _keyword_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _terms_agg(searcher: Searcher, spec: dict, matched: list) -> dict:
    if set(spec) != {"terms"} or set(spec["terms"]) - {"field", "size", "missing"}:
        raise unsupported(f"aggregation {spec}")
    source_path, field_spec = searcher._field(spec["terms"]["field"])
    if field_spec.get("type") == "text":
        raise EsError(
            400,
            "illegal_argument_exception",
            f"Fielddata is disabled on [{spec['terms']['field']}] in [{searcher.index.name}].",
        )
    if field_spec.get("type") not in ("keyword", "unmapped"):
        raise unsupported(f"a terms aggregation over a [{field_spec.get('type')}] field")
    missing = spec["terms"].get("missing")
    counts: dict[Any, int] = {}
    for _, source, _ in matched:
        # Keyword doc values are strings, whatever JSON type the document held.
        values = {_keyword_value(v) for v in _values(source, source_path)}
        if not values and missing is not None:
            values = {str(missing)}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    size = int(spec["terms"].get("size", 10))
    return {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": sum(c for _, c in ordered[size:]),
        "buckets": [{"key": k, "doc_count": c} for k, c in ordered[:size]],
    }


# --- HTTP -----------------------------------------------------------------------------------


class EsStub:
    """Start with `with EsStub() as stub:`; `stub.url` for the client, `stub.requests` to inspect.
    `fail_status` answers every request with that error status; `delay` stalls every answer;
    `product_header = False` answers like a server that is not Elasticsearch."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.indices: dict[str, StubIndex] = {}
        self.fail_status: int | None = None
        self.delay = 0.0
        self.product_header = True
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                stub._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "EsStub":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def recorded(self, method: str, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and (path is None or r.path == path)]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        parts = [unquote(p) for p in split.path.split("/") if p]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        body: Any
        if parts and parts[-1] == "_bulk":
            body = raw.decode(errors="replace")  # NDJSON: parsed line by line by bulk()
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Recorded(handler.command, "/" + "/".join(parts), params, body))
        if self.delay:
            time.sleep(self.delay)
        try:
            if self.fail_status is not None:
                raise EsError(self.fail_status, "stub_injected_failure", "failure injected by the test")
            with self._lock:
                if parts and parts[-1] == "_bulk" and handler.command in ("POST", "PUT"):
                    status, payload = self._bulk(parts[:-1], params, str(body or ""))
                elif not isinstance(body, (dict, type(None))):
                    raise EsError(400, "parse_exception", "request body is required to be a JSON object")
                else:
                    status, payload = self._route(handler.command, parts, params, body)
        except EsError as exc:
            status, payload = exc.status, exc.body()
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            # Every answer carries the product header: the 8.x client refuses a 2xx without it.
            if self.product_header:
                handler.send_header("X-Elastic-Product", "Elasticsearch")
            handler.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
            handler.send_header("Content-Length", "0" if handler.command == "HEAD" else str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and went away (see `delay`)

    def _bulk(self, path: list[str], params: dict[str, str], ndjson: str) -> tuple[int, dict]:
        """`index` actions only, each answered on its own: a conflict or a refused document fails
        that item (its status and error), never the request."""
        if len(path) > 1:
            raise EsError(
                400, "illegal_argument_exception", f"es_stub: no handler found for uri [/{'/'.join(path)}/_bulk]"
            )
        if set(params) - {"refresh"}:
            raise unsupported(f"bulk parameters {sorted(params)}")
        if ndjson and not ndjson.endswith("\n"):
            raise EsError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        lines = [line for line in ndjson.split("\n") if line.strip()]
        if not lines:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
        if len(lines) % 2:
            raise EsError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        items, touched = [], set()
        for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
            action = json.loads(action_line)
            if set(action) != {"index"}:
                raise unsupported(f"bulk actions other than index: {sorted(action)}")
            meta = action["index"]
            if set(meta) - {"_index", "_id", "version", "version_type"}:
                raise unsupported(f"bulk action metadata {sorted(meta)}")
            name = meta.get("_index") or (path[0] if path else None)
            if name is None:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
            item_params = {k: str(meta[k]) for k in ("version", "version_type") if k in meta}
            try:
                index = self._index(name)
                status, result = index.write(str(meta["_id"]), json.loads(source_line), item_params)
                touched.add(name)
                result["status"] = status
            except EsError as exc:
                error = exc.body()["error"]
                del error["root_cause"]
                result = {"_index": name, "_id": meta.get("_id"), "status": exc.status, "error": error}
            items.append({"index": result})
        if params.get("refresh") in ("true", "", "wait_for"):
            for name in touched:
                self.indices[name].refresh()
        errors = any("error" in item["index"] for item in items)
        return 200, {"errors": errors, "took": 1, "items": items}

    def _index(self, name: str) -> StubIndex:
        if name not in self.indices:
            # Real clusters auto-create on a write; refusing here catches an adapter that forgot to.
            raise EsError(
                404,
                "index_not_found_exception",
                f"no such index [{name}]",
                **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name},
            )
        return self.indices[name]

    def _route(
        self, method: str, parts: list[str], params: dict[str, str], body: dict | None
    ) -> tuple[int, dict | None]:
        if not parts and method in ("GET", "HEAD"):
            return 200, {
                "name": "es-stub",
                "cluster_name": "es-stub",
                "cluster_uuid": "stub",
                "version": {
                    "number": CLUSTER_VERSION,
                    "build_flavor": "default",
                    "lucene_version": "9.12.1",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "You Know, for Search",
            }
        if len(parts) == 1 and not parts[0].startswith("_"):
            name = parts[0]
            if method == "HEAD":
                return (200 if name in self.indices else 404), None
            if method == "PUT":
                if name in self.indices:
                    raise EsError(
                        400,
                        "resource_already_exists_exception",
                        f"index [{name}/stub] already exists",
                        index_uuid="stub",
                        index=name,
                    )
                self.indices[name] = StubIndex(name, body or {})
                return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
            if method == "DELETE":
                self._index(name)
                del self.indices[name]
                return 200, {"acknowledged": True}
        if len(parts) == 3 and parts[1] == "_doc":
            index = self._index(parts[0])
            if method in ("PUT", "POST"):
                return index.write(parts[2], body or {}, params)
            if method == "GET":
                return index.get(parts[2])
        if len(parts) == 2 and parts[1] == "_mapping" and method in ("PUT", "POST"):
            self._index(parts[0]).put_mapping(body or {})
            return 200, {"acknowledged": True}
        if len(parts) == 2 and parts[1] == "_refresh" and method in ("GET", "POST"):
            self._index(parts[0]).refresh()
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if len(parts) == 2 and parts[1] == "_search" and method in ("GET", "POST"):
            return 200, run_search(self._index(parts[0]), body or {})
        if len(parts) == 2 and parts[1] == "_count" and method in ("GET", "POST"):
            return 200, run_count(self._index(parts[0]), body or {})
        raise EsError(
            400,
            "illegal_argument_exception",
            f"es_stub: no handler found for uri [/{'/'.join(parts)}] and method [{method}]",
        )
