"""Duplicate detection rules (pure, no I/O): normalising emails, phones, names and tax ids, the
blocking keys that find candidates through an index, and the score that says how likely two
records are one customer."""

import difflib
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_COUNTRY_CODE = "86"

# Name similarity (0..1) from which two names count as the same: with the same company the match
# blocks a create; on its own it is only reported. A one-letter typo in one of two Western name
# parts scores about 0.93-0.96; two Chinese names one character apart score 0.5-0.67 (in Chinese
# one character makes another name), a two-character name inside a three-character one 0.8.
NAME_WITH_COMPANY = 0.85
NAME_ALONE = 0.8

# Partial scores of each reason; a candidate's score combines them as independent evidence.
EMAIL_SCORE, PHONE_SCORE, TAX_ID_SCORE, COMPANY_NAME_SCORE = 1.0, 0.95, 1.0, 0.9

# Which reasons make a likely duplicate (a create is refused) rather than a candidate to look at.
STRONG_REASONS = frozenset({"email", "phone", "tax_id", "name_and_company", "company_name"})


# normalisers


def normalise_email(value: object) -> str | None:
    """NFKC (full-width letters and ＠ become ASCII), trimmed, lower-cased; None when it is no email."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    text = text.lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or re.search(r"\s", text):
        return None
    return text


_PHONE_SEPARATORS = re.compile(r"[\s.\-‐‑–—()\[\]/]")
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#|转|分机)\s*\d*\s*$", re.IGNORECASE)


def normalise_phone(value: object, country_code: str = DEFAULT_COUNTRY_CODE) -> str | None:
    """`+<country code><number>` (E.164-like). Full-width digits and signs count (NFKC); spaces,
    dots, dashes, slashes and brackets are dropped, and so is a trailing extension. `00` starts an
    international number like `+`. A national number gets `country_code`, without its trunk `0`;
    digits that already start with `country_code` and are longer than a national number (over 11
    digits) are taken as international written without the `+`. None when it is no phone number."""
    if not isinstance(value, str):
        return None
    text = _EXTENSION.sub("", unicodedata.normalize("NFKC", value).strip())
    text = _PHONE_SEPARATORS.sub("", text)
    international = text.startswith("+")
    digits = text[1:] if international else text
    if not digits.isascii() or not digits.isdigit():
        return None
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if not international:
        if digits.startswith(country_code) and len(digits) > 11:
            international = True
        else:
            digits = country_code + (digits[1:] if digits.startswith("0") else digits)
    if not 7 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def normalise_tax_id(value: object) -> str | None:
    """NFKC, upper-case, without spaces, dashes, dots and slashes; None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"[\s\-./]", "", unicodedata.normalize("NFKC", value)).upper()
    return text or None


# About two hundred traditional characters common in names and company names, to their
# simplified forms, so that 張偉 and 张伟 are one name; a full converter (OpenCC) is a later refinement.
_TRADITIONAL = str.maketrans(
    "張陳劉黃趙吳楊許鄭謝馮葉蕭鄧盧羅孫錢馬賴顧韓範蔣鍾嚴閻賈湯蘇鄒陸龔譚魯萬賀聶喬韋歐陽麥華國麗紅軍東龍鳳傑強濤寧靜輝鵬飛雲"
    "蘭穎瑩誠順興達勝義賢豔齊廣樂發運進貴寶倫濱澤榮錦銘銀鋒劍聰婭嬌潔憶綺綠藝夢曉瑤碩歡愛懷駿偉彥貞樺慶億嶺傳峯濟遠衛壽滿團業"
    "產實務電氣車長開門際識訊網絡資術創銷貿線圖營韻齡鐵鋼橋灣廳廠區縣書筆學師紀維聖燁煒瑋璽鍵勵蓮嬋鶯鴻權綿雙儀禮錫鎮煥愷凱闊"
    "頤潤雞島廈滬閩粵陝遼贛無風見貝鐘聯萊韜鈞鍛環",
    "张陈刘黄赵吴杨许郑谢冯叶萧邓卢罗孙钱马赖顾韩范蒋钟严阎贾汤苏邹陆龚谭鲁万贺聂乔韦欧阳麦华国丽红军东龙凤杰强涛宁静辉鹏飞云"
    "兰颖莹诚顺兴达胜义贤艳齐广乐发运进贵宝伦滨泽荣锦铭银锋剑聪娅娇洁忆绮绿艺梦晓瑶硕欢爱怀骏伟彦贞桦庆亿岭传峰济远卫寿满团业"
    "产实务电气车长开门际识讯网络资术创销贸线图营韵龄铁钢桥湾厅厂区县书笔学师纪维圣烨炜玮玺键励莲婵莺鸿权绵双仪礼锡镇焕恺凯阔"
    "颐润鸡岛厦沪闽粤陕辽赣无风见贝钟联莱韬钧锻环",
)


def is_cjk(ch: str) -> bool:
    """Scripts written without spaces between the parts of a name: Han, kana, Hangul."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2FA1F  # extensions B.. and compatibility supplement
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
    )


def _fold(text: str) -> str:
    """NFKC, case-folded, accents stripped from Latin letters (José -> jose), traditional Chinese
    name characters simplified."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TRADITIONAL)
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue  # an accent on a Latin letter; kana voicing marks and the like stay
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def name_tokens(text: object) -> tuple[str, ...]:
    """The parts of a name: each CJK character on its own, Latin words whole. Apostrophes and
    hyphens join (O'Brien -> obrien, Jean-Luc -> jeanluc); other punctuation and all whitespace,
    full-width included, separate."""
    if not isinstance(text, str):
        return ()
    folded = re.sub(r"['’`\-‐‑–]", "", _fold(text))
    tokens: list[str] = []
    word: list[str] = []
    for ch in folded:
        if is_cjk(ch):
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
        elif ch.isalnum():
            word.append(ch)
        elif word:
            tokens.append("".join(word))
            word = []
    if word:
        tokens.append("".join(word))
    return tuple(tokens)


@dataclass(frozen=True)
class NameForm:
    """One way a record's name is written. `cjk` names compare as strings of characters in the
    order given (family name first); Latin names word by word in any order."""

    tokens: tuple[str, ...]
    cjk: bool


def _form(tokens: tuple[str, ...]) -> NameForm | None:
    if not tokens:
        return None
    return NameForm(tokens, any(is_cjk(t[0]) for t in tokens))


def contact_name_forms(record: dict) -> tuple[NameForm, ...]:
    """A contact's name from first_name/last_name (family name first when it is Chinese, and also
    the other way round, since the two fields are often swapped) and its local_name."""
    first, last = name_tokens(record.get("first_name")), name_tokens(record.get("last_name"))
    forms: list[NameForm | None] = []
    both = _form(first + last)
    if both is not None and both.cjk:
        forms.append(_form(last + first))
    forms.append(both)
    forms.append(_form(name_tokens(record.get("local_name"))))
    return tuple(dict.fromkeys(f for f in forms if f is not None))


# Legal forms a company name carries or leaves out: "Acme Ltd" and "ACME Limited" are one company.
# A group and its members are different companies, so "group" and 集团 stay.
_LEGAL_SUFFIXES_CJK = ("股份有限公司", "有限责任公司", "有限公司", "公司")
_LEGAL_WORDS = frozenset(
    "co company ltd limited inc incorporated corp corporation llc llp plc gmbh ag sa sas sarl bv nv pte pty kk".split()
)


def company_name_tokens(text: object) -> tuple[str, ...]:
    """A company name's tokens without its legal form (Ltd, Inc, 有限公司...) or a leading "the"."""
    tokens = list(name_tokens(text))
    while len(tokens) > 1 and tokens[-1] in _LEGAL_WORDS:
        tokens.pop()
    if len(tokens) > 1 and tokens[0] == "the":
        tokens.pop(0)
    for suffix in _LEGAL_SUFFIXES_CJK:
        # CJK tokens are single characters, so the last len(suffix) tokens spell the suffix.
        if len(tokens) > len(suffix) and "".join(tokens[-len(suffix) :]) == suffix:
            tokens = tokens[: -len(suffix)]
            break
    return tuple(tokens)


def company_name_forms(record: dict) -> tuple[NameForm, ...]:
    forms = (_form(company_name_tokens(record.get("name"))), _form(company_name_tokens(record.get("local_name"))))
    return tuple(dict.fromkeys(f for f in forms if f is not None))


# similarity


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _form_similarity(a: NameForm, b: NameForm) -> float:
    if a.cjk != b.cjk:
        return 0.0  # 张伟 and Zhang Wei: comparing scripts needs pinyin, a later refinement
    if a.cjk:
        return _ratio("".join(a.tokens), "".join(b.tokens))
    short, long_ = sorted((a.tokens, b.tokens), key=len)
    if len(long_) <= 4:
        # Best pairing of words in any order (first and last names swapped), over the longer name.
        best = max(
            sum(_ratio(x, y) for x, y in zip(short, perm, strict=False))
            for perm in itertools.permutations(long_, len(short))
        )
        return best / len(long_)
    return _ratio(" ".join(sorted(a.tokens)), " ".join(sorted(b.tokens)))


def name_similarity(a: Iterable[NameForm], b: Iterable[NameForm]) -> float:
    """The best similarity of any form of one name with any form of the other, 0..1."""
    others = list(b)
    return max((_form_similarity(x, y) for x in a for y in others), default=0.0)


# profiles, blocking keys and scores


@dataclass(frozen=True)
class Profile:
    """What matching looks at in a company or contact, normalised."""

    subject_type: str  # "contact" or "company"
    id: str | None
    emails: frozenset[str]
    phones: frozenset[str]
    names: tuple[NameForm, ...]
    company_id: str | None = None  # contacts
    tax_id: str | None = None  # companies


def profile(subject_type: str, record: dict, country_code: str = DEFAULT_COUNTRY_CODE) -> Profile:
    emails = [record.get("email"), *(record.get("other_emails") or [])]
    phones = [record.get("phone"), *(record.get("other_phones") or [])]
    contact = subject_type == "contact"
    return Profile(
        subject_type,
        record.get("id"),
        frozenset(e for e in map(normalise_email, emails) if e),
        frozenset(p for p in (normalise_phone(v, country_code) for v in phones) if p),
        contact_name_forms(record) if contact else company_name_forms(record),
        (record.get("company_id") or None) if contact else None,
        None if contact else normalise_tax_id(record.get("tax_id")),
    )


def _sorted_join(tokens: Iterable[str], cjk: bool) -> str:
    return ("" if cjk else " ").join(sorted(tokens))


def _name_keys(form: NameForm) -> tuple[str, list[str]]:
    """The exact key (all parts, in any order) and the fuzzy keys a one-part typo still shares:
    for Latin names each word with the initials of the others (john|j, johnson|j); for CJK names of
    three or more characters each one-character deletion (张伟明 -> 伟明, 张明, 张伟), and for
    two-character names the name itself, so that 张伟 meets 张伟明."""
    exact = _sorted_join(form.tokens, form.cjk)
    n = len(form.tokens)
    if form.cjk:
        if n >= 3:
            return exact, [_sorted_join(form.tokens[:i] + form.tokens[i + 1 :], True) for i in range(n)]
        return exact, [exact] if n == 2 else []
    if n < 2:
        return exact, []
    return exact, [
        form.tokens[i] + "|" + "".join(sorted(t[0] for j, t in enumerate(form.tokens) if j != i)) for i in range(n)
    ]


def match_keys(p: Profile) -> list[tuple[str, str]]:
    """The (kind, value) keys under which a record is indexed and looked up: `email`, `phone`,
    `tax_id`, `name` (the whole name, parts in any order), `name_part` (fuzzy, see `_name_keys`)
    and, for a contact at a company, `name_at_company` (`<company_id>|<name part>`)."""
    return list(_match_keys(p.emails, p.phones, p.tax_id, p.names, p.company_id))


@functools.lru_cache(maxsize=4096)  # an import row's keys are read to find its duplicates, then to index it
def _match_keys(
    emails: frozenset[str],
    phones: frozenset[str],
    tax_id: str | None,
    names: tuple[NameForm, ...],
    company_id: str | None,
) -> tuple[tuple[str, str], ...]:
    keys: list[tuple[str, str]] = [("email", e) for e in sorted(emails)]
    keys += [("phone", ph) for ph in sorted(phones)]
    if tax_id:
        keys.append(("tax_id", tax_id))
    for form in names:
        exact, fuzzy = _name_keys(form)
        keys.append(("name", exact))
        keys += [("name_part", k) for k in fuzzy]
        if company_id:
            keys += [("name_at_company", f"{company_id}|{t}") for t in form.tokens]
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Match:
    score: float  # 0..1
    reasons: tuple[str, ...]
    strong: bool  # a likely duplicate: creating it is refused unless overridden


def compare(probe: Profile, other: Profile) -> Match | None:
    """How likely `other` is the customer `probe` describes; None when nothing matches.

    Strong: the same email, phone or tax id; for contacts a similar name (>= NAME_WITH_COMPANY)
    at the same company; for companies the same name once legal forms are dropped. Weak: a
    similar name alone (>= NAME_ALONE). Two companies with different tax ids are different
    companies, whatever else they share: their matches are reported as weak."""
    found: dict[str, float] = {}
    if probe.emails & other.emails:
        found["email"] = EMAIL_SCORE
    if probe.phones & other.phones:
        found["phone"] = PHONE_SCORE
    if probe.tax_id and probe.tax_id == other.tax_id:
        found["tax_id"] = TAX_ID_SCORE
    similarity = name_similarity(probe.names, other.names)
    if probe.subject_type == "contact":
        if similarity >= NAME_WITH_COMPANY and probe.company_id and probe.company_id == other.company_id:
            found["name_and_company"] = 0.7 + 0.25 * similarity
        elif similarity >= NAME_ALONE:
            found["name"] = 0.5 * similarity
    elif similarity >= 0.999:
        found["company_name"] = COMPANY_NAME_SCORE
    elif similarity >= NAME_ALONE:
        found["name"] = 0.5 * similarity
    if not found:
        return None
    doubt = 1.0
    for part in found.values():
        doubt *= 1.0 - part
    strong = bool(STRONG_REASONS & found.keys())
    if probe.tax_id and other.tax_id and probe.tax_id != other.tax_id:
        strong = False
    return Match(round(1.0 - doubt, 3), tuple(found), strong)


def rank(matches: Iterable[tuple[str, Match]]) -> list[tuple[str, Match]]:
    """Strong before weak, then by score, then by id (a stable order for equal scores)."""
    return sorted(matches, key=lambda item: (not item[1].strong, -item[1].score, item[0]))
