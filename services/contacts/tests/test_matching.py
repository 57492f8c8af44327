"""Duplicate detection rules: normalising, blocking keys and scores, without any I/O."""

import pytest

from contacts import matching
from contacts.matching import compare, match_keys, normalise_email, normalise_phone, normalise_tax_id, profile


def contact(**fields) -> matching.Profile:
    return profile("contact", fields)


def company(**fields) -> matching.Profile:
    return profile("company", fields)


def shares_a_key(a: matching.Profile, b: matching.Profile) -> bool:
    """Whether the index lookup of one finds the other."""
    return bool(set(match_keys(a)) & set(match_keys(b)))


# emails


@pytest.mark.parametrize(
    "written",
    [
        "zhang.wei@example.cn",
        "Zhang.Wei@Example.CN",
        "  zhang.wei@example.cn\t",
        "ｚｈａｎｇ．ｗｅｉ＠ｅｘａｍｐｌｅ．ｃｎ",  # full-width, as a Chinese input method types it
        "ＺＨＡＮＧ.WEI@EXAMPLE.CN",
        "mailto:zhang.wei@example.cn",
        "<zhang.wei@example.cn>",
    ],
)
def test_emails_match_whatever_their_case_spacing_or_width(written: str) -> None:
    assert normalise_email(written) == "zhang.wei@example.cn"


@pytest.mark.parametrize("written", ["", "   ", "no-at-sign", "a@nodot", "two words@example.com", None, 42])
def test_what_is_no_email_gives_no_key(written) -> None:
    assert normalise_email(written) is None


# phones


@pytest.mark.parametrize(
    "written",
    [
        "+86 138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 13800138000",
        "008613800138000",
        "13800138000",
        "138 0013 8000",
        "138.0013.8000",
        "(138) 0013-8000",
        "86 13800138000",
        "１３８００１３８０００",  # full-width digits
        "＋８６ １３８－００１３－８０００",  # full-width plus, digits and dashes
        "+86 138 0013 8000 ext. 12",
        "13800138000转12",
    ],
)
def test_phones_match_in_every_national_and_international_format(written: str) -> None:
    assert normalise_phone(written) == "+8613800138000"


def test_a_national_number_drops_its_trunk_zero_and_takes_the_default_country() -> None:
    assert normalise_phone("010-6552 9988") == "+861065529988"
    assert normalise_phone("(0)20 7946 0958", "44") == "+442079460958"
    assert normalise_phone("020 7946 0958", "44") == normalise_phone("+44 20 7946 0958", "44")


def test_an_international_number_keeps_its_own_country_whatever_the_default() -> None:
    assert normalise_phone("+1 (415) 555-0132", "86") == "+14155550132"
    assert normalise_phone("001 415 555 0132", "86") == "+14155550132"


@pytest.mark.parametrize("written", ["", "12", "phone me", "+86 138 0013 800O", "+0 123 456 789", None])
def test_what_is_no_phone_gives_no_key(written) -> None:
    assert normalise_phone(written) is None


# tax ids


def test_tax_ids_match_without_spaces_dashes_case_or_width() -> None:
    code = "91110000600037341L"
    for written in (
        "91110000600037341l",
        " 9111 0000 6000 37341L ",
        "911100-006000-37341-L",
        "９１１１００００６０００３７３４１Ｌ",
    ):
        assert normalise_tax_id(written) == code
    assert normalise_tax_id("DE 123-456-789") == normalise_tax_id("de123456789")
    assert normalise_tax_id(" - ") is None


# names


def similarity(a: matching.Profile, b: matching.Profile) -> float:
    return matching.name_similarity(a.names, b.names)


@pytest.mark.parametrize(
    "other",
    [
        {"last_name": "张", "first_name": "伟"},
        {"last_name": "张", "first_name": " 伟 "},
        {"first_name": "张伟"},  # the whole name in one field
        {"last_name": "张 伟"},  # with a space inside
        {"last_name": "张\u3000伟"},  # with a full-width space
        {"first_name": "张", "last_name": "伟"},  # family and given name swapped between the fields
        {"local_name": "张伟", "first_name": "Wei", "last_name": "Zhang"},
        {"last_name": "張", "first_name": "偉"},  # traditional characters
    ],
)
def test_a_chinese_name_matches_its_spacing_field_order_and_traditional_variants(other: dict) -> None:
    zhang_wei = contact(last_name="张", first_name="伟")
    assert similarity(zhang_wei, contact(**other)) == 1.0
    assert shares_a_key(zhang_wei, contact(**other))


def test_chinese_names_one_character_apart_are_different_people() -> None:
    assert similarity(contact(last_name="张", first_name="伟"), contact(last_name="张", first_name="玮")) < 0.8
    assert similarity(contact(last_name="张", first_name="伟明"), contact(last_name="张", first_name="伟华")) < 0.8
    assert similarity(contact(last_name="张", first_name="伟"), contact(last_name="王", first_name="伟")) < 0.8


def test_a_two_character_chinese_name_is_found_inside_a_three_character_one() -> None:
    short, long_ = contact(last_name="张", first_name="伟"), contact(last_name="张", first_name="伟明")
    assert shares_a_key(short, long_)
    assert matching.NAME_ALONE <= similarity(short, long_) < matching.NAME_WITH_COMPANY


def test_a_three_character_chinese_name_with_one_wrong_character_is_still_found() -> None:
    # Found through a one-character-deletion key, then scored: one character in three is too much.
    assert shares_a_key(contact(first_name="张伟明"), contact(first_name="张玮明"))


@pytest.mark.parametrize(
    "other",
    [
        {"first_name": "Mary", "last_name": "Jonson"},  # one letter missing in the surname
        {"first_name": "Mary", "last_name": "Johnsen"},
        {"first_name": "Mray", "last_name": "Johnson"},  # two letters swapped in the given name
        {"first_name": "MARY", "last_name": "JOHNSON"},
        {"first_name": "  mary ", "last_name": "johnson  "},
        {"first_name": "Johnson", "last_name": "Mary"},  # first and last swapped
        {"first_name": "Ｍａｒｙ", "last_name": "Ｊｏｈｎｓｏｎ"},  # full-width letters
    ],
)
def test_a_western_name_matches_through_case_spacing_order_and_a_one_letter_typo(other: dict) -> None:
    mary = contact(first_name="Mary", last_name="Johnson")
    assert similarity(mary, contact(**other)) >= matching.NAME_WITH_COMPANY
    assert shares_a_key(mary, contact(**other))


def test_accents_and_joining_punctuation_do_not_separate_names() -> None:
    assert (
        similarity(contact(first_name="José", last_name="García"), contact(first_name="Jose", last_name="Garcia")) == 1
    )
    assert (
        similarity(contact(first_name="Seán", last_name="O'Brien"), contact(first_name="Sean", last_name="OBrien")) == 1
    )
    assert (
        similarity(
            contact(first_name="Jean-Luc", last_name="Picard"), contact(first_name="Jeanluc", last_name="Picard")
        )
        == 1
    )


def test_different_western_names_sharing_a_surname_stay_apart() -> None:
    assert (
        similarity(contact(first_name="John", last_name="Smith"), contact(first_name="Jane", last_name="Smith")) < 0.8
    )
    assert similarity(contact(first_name="Li", last_name="Wei"), contact(first_name="Li", last_name="Wen")) < 0.85


def test_names_in_different_scripts_are_not_compared() -> None:
    assert similarity(contact(first_name="Wei", last_name="Zhang"), contact(last_name="张", first_name="伟")) == 0


def test_company_names_match_without_their_legal_form() -> None:
    same = [("Acme Ltd.", "ACME Limited"), ("The Acme Company", "Acme Co."), ("远景科技有限公司", "远景科技")]
    same.append(("北京远景科技股份有限公司", "北京远景科技有限公司"))
    for a, b in same:
        assert compare(company(name=a), company(name=b)).reasons == ("company_name",), (a, b)
        assert shares_a_key(company(name=a), company(name=b))


# keys


def test_keys_are_indexed_by_kind_and_cover_every_email_and_phone() -> None:
    keys = match_keys(
        contact(
            first_name="Mary",
            last_name="Johnson",
            email="Mary@Example.com",
            other_emails=["mj@home.example"],
            phone="13800138000",
            other_phones=["+86 139 0000 0000"],
            company_id="co-1",
        )
    )
    assert ("email", "mary@example.com") in keys and ("email", "mj@home.example") in keys
    assert ("phone", "+8613800138000") in keys and ("phone", "+8613900000000") in keys
    assert ("name", "johnson mary") in keys
    assert ("name_part", "mary|j") in keys and ("name_part", "johnson|m") in keys
    assert ("name_at_company", "co-1|johnson") in keys
    assert len(keys) == len(set(keys))


def test_a_record_without_usable_values_has_no_keys() -> None:
    assert match_keys(contact(email="not an email", phone="n/a")) == []


# scores


def test_the_same_email_phone_or_tax_id_is_a_strong_match() -> None:
    by_email = compare(contact(email="A@x.cn"), contact(email="a@X.CN ", first_name="Other"))
    assert by_email.strong and by_email.reasons == ("email",) and by_email.score == 1.0
    by_phone = compare(contact(phone="0086 138 0013 8000"), contact(phone="13800138000"))
    assert by_phone.strong and by_phone.reasons == ("phone",)
    by_tax_id = compare(company(name="A", tax_id="91-1100"), company(name="B", tax_id="911100"))
    assert by_tax_id.strong and by_tax_id.reasons == ("tax_id",)


def test_a_similar_name_is_strong_only_at_the_same_company() -> None:
    mary = contact(first_name="Mary", last_name="Johnson", company_id="co-1")
    colleague = compare(mary, contact(first_name="Mary", last_name="Jonson", company_id="co-1"))
    assert colleague.strong and colleague.reasons == ("name_and_company",)
    elsewhere = compare(mary, contact(first_name="Mary", last_name="Jonson", company_id="co-2"))
    assert not elsewhere.strong and elsewhere.reasons == ("name",)
    assert elsewhere.score < colleague.score


def test_the_same_chinese_name_at_the_same_company_is_a_likely_duplicate() -> None:
    a = contact(last_name="张", first_name="伟", company_id="co-1")
    assert compare(a, contact(local_name="張 偉", company_id="co-1")).strong
    assert compare(a, contact(last_name="张", first_name="玮", company_id="co-1")) is None


def test_several_reasons_add_up_and_rank_first() -> None:
    probe = contact(first_name="Mary", last_name="Johnson", phone="13800138000", company_id="co-1")
    both = compare(probe, contact(first_name="Mary", last_name="Johnson", phone="+8613800138000", company_id="co-1"))
    phone_only = compare(probe, contact(first_name="Ann", phone="+8613800138000"))
    weak = compare(probe, contact(first_name="Mary", last_name="Jonson"))
    assert set(both.reasons) == {"phone", "name_and_company"} and both.score > phone_only.score
    ranked = matching.rank([("weak", weak), ("phone", phone_only), ("both", both)])
    assert [record_id for record_id, _ in ranked] == ["both", "phone", "weak"]


def test_companies_with_different_tax_ids_are_never_likely_duplicates() -> None:
    match = compare(company(name="Acme Ltd", tax_id="111"), company(name="ACME Limited", tax_id="222"))
    assert match is not None and not match.strong


def test_nothing_in_common_is_no_match() -> None:
    assert compare(contact(first_name="Ada", email="ada@x.cn"), contact(first_name="Grace", email="g@x.cn")) is None
