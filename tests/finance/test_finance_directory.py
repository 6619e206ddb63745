"""Enterprise names: fuzzy search for a typed name, and mentions inside a chat message."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from finassist.finance.base import ToolContext
from finassist.finance.directory import EnterpriseDirectory, Entry


@pytest.fixture(scope="module")
def m001(make_ctx: Callable[..., ToolContext]) -> EnterpriseDirectory:
    return EnterpriseDirectory(make_ctx("M001"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("华东汽车集团股份有限公司", "C1"),  # full name
        ("华东汽车", "C1"),  # short name
        ("HDQC", "C1"),  # Latin alias
        ("hdqc", "C1"),  # case-insensitive
        ("华东汽车工业总公司", "C1"),  # Chinese alias
        ("华东汽年", "C1"),  # typo
        ("恒泰机械", "S1"),  # alias
        ("恒泰精蜜", "S1"),  # typo
        ("宁波远航汽车零部件", "S2"),  # name without the company form
        ("远航", "S2"),  # part of a name
        ("锦程汽贸最近怎么样", "D1"),  # a name inside a longer query
    ],
)
def test_search_finds_by_name_alias_and_typo(
    m001: EnterpriseDirectory, query: str, expected: str
) -> None:
    matches = m001.search(query)
    assert matches and matches[0].id == expected, (query, matches)


def test_exact_match_ranks_first_and_scores_highest(m001: EnterpriseDirectory) -> None:
    best = m001.search("华东汽车")[0]
    assert (best.id, best.score, best.name) == ("C1", 100.0, "华东汽车集团股份有限公司")


@pytest.mark.parametrize("query", ["今天天气不错", "随便看看", "xyz", "银行", "的", "   "])
def test_nonsense_matches_nothing(m001: EnterpriseDirectory, query: str) -> None:
    assert m001.search(query) == []


def test_first_two_characters_of_a_short_name_are_a_last_resort(m001: EnterpriseDirectory) -> None:
    assert [m.id for m in m001.search("恒泰那家公司")] == ["S1"]
    # ...but not in scan: "恒泰" alone is too weak to claim a mention.
    assert m001.scan("恒泰那家公司") == []


def test_scan_finds_every_mention_longest_first(m001: EnterpriseDirectory) -> None:
    text = "请对比华东汽车集团股份有限公司和恒泰精密、hdqc 以及锦程汽车的回款情况"
    found = [(m.id, m.matched_text, m.start, m.end) for m in m001.scan(text)]
    assert found == [
        ("C1", "华东汽车集团股份有限公司", 3, 15),
        ("S1", "恒泰精密", 16, 20),
        ("C1", "hdqc", 21, 25),
        ("D1", "锦程汽车", 28, 32),
    ]
    for _, matched, start, end in found:
        assert text[start:end] == matched


def test_scan_latin_alias_needs_word_boundaries(m001: EnterpriseDirectory) -> None:
    assert m001.scan("HDQCX 的数据") == []
    assert [m.id for m in m001.scan("HDQC的数据")] == ["C1"]


def test_scan_reports_every_company_sharing_a_name() -> None:
    directory = EnterpriseDirectory.from_entries(
        [
            Entry("E1", "苏州华信精工机械有限公司", "华信", (), "supplier"),
            Entry("E2", "上海华信物流有限公司", "华信", (), "supplier"),
        ]
    )
    matches = directory.scan("华信最近的应收")
    assert sorted(m.id for m in matches) == ["E1", "E2"]
    assert {(m.start, m.end) for m in matches} == {(0, 2)}


def _synthetic(count: int) -> list[Entry]:
    rng = random.Random(7)
    cities = "上海北京苏州无锡常州杭州宁波成都重庆武汉长沙广州深圳厦门南京天津青岛济南西安郑州"
    words = "恒泰远航德丰锦程立铭华信聚力安诚顺达川西博捷辰航嘉茂卓发新威耀科腾峰隆峰佳峰力盛"
    trades = ["精密机械", "汽车零部件", "电子", "物流", "商贸", "建材", "模具", "食品"]
    entries = []
    for n in range(count):
        city = cities[2 * rng.randrange(len(cities) // 2) :][:2]
        brand = "".join(rng.choice(words) for _ in range(2)) + f"{n}"
        trade = rng.choice(trades)
        entries.append(
            Entry(
                f"E{n:05d}",
                f"{city}{brand}{trade}有限公司",
                f"{brand}{trade[:2]}",
                (f"B{n}X",),
                "supplier",
            )
        )
    return entries


def test_scan_is_fast_with_ten_thousand_enterprises() -> None:
    entries = _synthetic(10_000)
    directory = EnterpriseDirectory.from_entries(entries)
    message = (
        f"帮我看看{entries[4321].short_name}和{entries[77].name}最近十二个月的现金流，"
        "另外它们有没有逾期的应收账款，以及是否适合申请反向保理或者提前回款？谢谢。"
    )
    assert [m.id for m in directory.scan(message)] == ["E04321", "E00077"]
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        directory.scan(message)
    per_message_ms = (time.perf_counter() - started) / rounds * 1000
    assert per_message_ms < 2.0, per_message_ms
