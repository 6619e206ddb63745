"""PII detection and masking: each type, the checksums, and what must not be touched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finassist.nlp.pii import (
    PiiMasker,
    find_pii,
    id_card_check_digit,
    is_valid_id_card,
    luhn_check_digit,
    luhn_valid,
    mask_pii,
)
from finassist.store.uscc import uscc_check_digit

ID_CARD = "11010519491231002X"
CARD = "6222021234567890128"


@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        ("电话13812345678请回电", "电话[手机号]请回电", "mobile"),
        ("手机 138-1234-5678。", "手机 [手机号]。", "mobile"),
        ("手机+8613812345678", "手机[手机号]", "mobile"),
        ("座机021-62345678转", "座机[座机号]转", "landline"),
        (f"身份证{ID_CARD}", "身份证[身份证号]", "id_card"),
        (f"卡号{CARD}", "卡号[银行卡号]", "bank_card"),
        ("邮箱 wang.li@scf-bank.com.cn 谢谢", "邮箱 [邮箱] 谢谢", "email"),
        ("信用代码91350100M000100Y43", "信用代码[信用代码]", "uscc"),
        ("发票号码：12345678已开", "发票号码：[发票号]已开", "invoice"),
        ("数电票26312000000000004521", "数电票[发票号]", "invoice"),
        ("请王经理回电", "请[姓名]经理回电", "name"),
        ("欧阳女士您好", "[姓名]女士您好", "name"),
        ("寄到上海市浦东新区张江路88号3号楼502室吧", "寄到[地址]吧", "address"),
    ],
)
def test_each_type_is_masked_with_its_placeholder(text: str, masked: str, kind: str) -> None:
    result = mask_pii(text)
    assert result.text == masked
    assert result.counts[kind] == 1


def test_numbers_whose_check_digits_fail_are_left_alone() -> None:
    wrong_id = ID_CARD[:-1] + "1"
    wrong_card = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    wrong_uscc = "91350100M000100Y44"
    for text in (wrong_id, wrong_card, wrong_uscc):
        assert find_pii(f"编号{text}") == [], text


def test_amounts_dates_and_enterprise_names_are_not_pii() -> None:
    text = "华东汽车2025年10月31日应付账款1234567.89元，账期90天，利率3.85%"
    assert mask_pii(text).text == text


def test_checksums_agree_with_the_standards() -> None:
    assert id_card_check_digit(ID_CARD[:17]) == "X"
    assert is_valid_id_card(ID_CARD.lower())
    assert not is_valid_id_card("11010519491331002X")  # month 13
    assert luhn_valid("79927398713")
    assert luhn_check_digit("7992739871") == "3"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_any_id_body_with_its_check_digit_is_found(body: str) -> None:
    code = body[:6] + "19900101" + body[14:]
    code += id_card_check_digit(code)
    assert [s.kind for s in find_pii(f"证件号{code}。")] == ["id_card"]


@given(st.text(alphabet="0123456789", min_size=15, max_size=18))
def test_any_luhn_valid_card_is_found(body: str) -> None:
    number = "6" + body
    number += luhn_check_digit(number)
    spans = find_pii(f"卡号：{number}，")
    assert len(spans) == 1 and spans[0].text == number


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))
def test_any_uscc_with_its_check_character_is_found(org: str) -> None:
    first17 = "91310000" + org + "A"
    code = first17 + uscc_check_digit(first17)
    kinds = [s.kind for s in find_pii(f"代码 {code} 。")]
    assert kinds in (["uscc"], ["id_card"], ["bank_card"])  # all-digit codes may read as others


def test_a_masker_can_be_limited_to_some_types() -> None:
    masker = PiiMasker(("mobile",))
    assert masker.mask("王经理13812345678").text == "王经理[手机号]"
    with pytest.raises(ValueError):
        PiiMasker(("passport",))
