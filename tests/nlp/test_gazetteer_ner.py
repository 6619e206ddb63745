"""Gazetteer matching and entity recognition with offsets."""

from __future__ import annotations

import itertools

import pytest

from finassist.errors import InvalidInput
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.ner import EntityRecognizer

TINY_STOCKS = (
    "code\tname\texchange\tindustry_em\n600519\t贵州茅台\tSH\t酿酒行业\n"
    "000001\t平安银行\tSZ\t银行\n000999\t云南长江星\tSZ\t\n"
)


def test_tiny_gazetteer_matches_longest_first_and_derives_aliases() -> None:
    terms = {
        "region_prefixes": ["贵州", "云南"],
        "regions": ["贵州"],
        "stock_aliases": {"茅台": "贵州茅台"},
    }
    gaz = Gazetteer.from_sources({"stocks": TINY_STOCKS}, terms)
    text = "贵州茅台和茅台，平安银行，600519，长江星"
    found = [(m.text, m.kind, m.canonical, m.code) for m in gaz.find(text)]
    assert found == [
        ("贵州茅台", "stock", "贵州茅台", "600519"),
        ("茅台", "stock", "贵州茅台", "600519"),
        ("平安银行", "stock", "平安银行", "000001"),
        ("600519", "stock", "贵州茅台", "600519"),
        ("长江星", "stock", "云南长江星", "000999"),
    ]


def test_ascii_names_match_only_as_words() -> None:
    gaz = Gazetteer.from_sources({}, {"indicators": ["PE", "ROE"]})
    assert [m.text for m in gaz.find("ROE和PE，PEG不算")] == ["ROE", "PE"]


def test_packaged_gazetteer_knows_stocks_funds_indices_sectors() -> None:
    gaz = Gazetteer.default()
    kinds = {m.text: m.kind for m in gaz.find("茅台、沪深300、券商、易方达蓝筹精选、半导体")}
    assert kinds == {"茅台": "stock", "沪深300": "index", "券商": "sector",
                     "易方达蓝筹精选": "fund", "半导体": "sector"}  # fmt: skip


@pytest.fixture(scope="module")
def ner() -> EntityRecognizer:
    return EntityRecognizer.default()


def spans(entities) -> list[tuple[str, str]]:
    return [(e.text, e.type) for e in entities]


def test_amounts_percentages_dates_and_indicators(ner) -> None:
    text = "2023年第三季度公司营收6,000万元，不良率1.5%，ROE为12%，净息差1.8%，拨备覆盖率高于200%，计划融资1.2亿"
    found = ner.recognize(text)
    for e in found:
        assert text[e.start : e.end] == e.text
    assert ("2023年第三季度", "date") in spans(found)
    amounts = {e.text: e.attrs["value"] for e in found if e.type == "amount"}
    assert amounts == {"6,000万元": "60000000", "1.2亿": "120000000"}
    assert {"不良率", "ROE", "净息差", "拨备覆盖率"} <= {
        e.text for e in found if e.type == "indicator"
    }
    assert {"1.5%", "12%", "1.8%", "200%"} <= {e.text for e in found if e.type == "percent"}


def test_stock_with_code_people_with_roles_and_companies(ner) -> None:
    text = "凯赛生物(688065)公告，董事长张三表示，上海华东汽车零部件有限公司将扩产。"
    found = ner.recognize(text)
    listed = found[0]
    # The company announces: typed company (CFSC-NER's Corporate), its code kept.
    assert (listed.text, listed.type, listed.attrs["code"]) == ("凯赛生物", "company", "688065")
    assert "688065" not in {e.text for e in found}
    person = next(e for e in found if e.type == "person")
    assert (person.text, person.attrs["role"]) == ("张三", "董事长")
    assert ("上海华东汽车零部件有限公司", "company") in spans(found)


def test_indices_funds_and_industries(ner) -> None:
    found = spans(ner.recognize("沪深300跑赢创业板指，券商板块和易方达蓝筹精选都涨了"))
    assert ("沪深300", "index") in found and ("创业板指", "index") in found
    assert ("券商", "industry") in found and ("易方达蓝筹精选", "fund") in found


def test_entities_never_overlap(ner) -> None:
    found = ner.recognize(
        "北向资金今日净卖出33.85亿元，贵州茅台净卖出1.86亿元，2021年1－6月营收增长28.8%"
    )
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start


def test_empty_text_is_refused(ner) -> None:
    with pytest.raises(InvalidInput, match="文本为空"):
        ner.recognize("  ")


def test_longest_name_wins_over_a_name_inside_it(ner) -> None:
    # 中欧 is a fund house and 电子 an industry: the longer names around them win.
    assert spans(ner.recognize("中欧骏盈B今天涨了"))[0] == ("中欧骏盈B", "fund")
    first = ner.recognize("宇顺电子发布公告")[0]
    assert (first.text, first.canonical, first.attrs["code"]) == ("宇顺电子", "*ST宇顺", "002289")
    assert ("电子", "industry") not in spans(ner.recognize("宇顺电子股价大涨"))
    assert spans(ner.recognize("买了易方达蓝筹精选混合A"))[0] == ("易方达蓝筹精选混合A", "fund")


def test_listed_name_is_company_or_stock_by_context(ner) -> None:
    assert spans(ner.recognize("宇顺电子发布公告"))[0] == ("宇顺电子", "company")
    assert spans(ner.recognize("宇顺电子股价大涨"))[0] == ("宇顺电子", "stock")
    assert spans(ner.recognize("红塔证券6天5板"))[0] == ("红塔证券", "stock")
    assert spans(ner.recognize("红塔证券公告，董事长辞职"))[0] == ("红塔证券", "company")
    assert spans(ner.recognize("茅台还能拿吗"))[0] == ("茅台", "stock")


def test_registered_name_gives_its_short_form() -> None:
    stocks = (
        "code\tname\texchange\tindustry_em\tfull_name\n"
        "002289\t*ST宇顺\tSZ\t光学光电子\t深圳市宇顺电子股份有限公司\n"
        "000001\t平安银行\tSZ\t银行\t平安银行股份有限公司\n"
    )
    gaz = Gazetteer.from_sources({"stocks": stocks}, {"sector_terms": ["电子"]})
    found = [
        (m.text, m.kind, m.canonical) for m in gaz.find("宇顺电子和深圳市宇顺电子股份有限公司")
    ]
    assert found[0][:2] == ("宇顺电子", "stock")
    assert found[1][:2] == ("深圳市宇顺电子股份有限公司", "company")
