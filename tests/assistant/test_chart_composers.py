"""The chart and calculate composers, directly and through the Assistant with a stub router."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

import finassist.assistant.calculation as calculation
import finassist.assistant.charts as charts
from finassist.assistant import Assistant
from finassist.assistant.handlers import HANDLERS, TurnInput
from finassist.finance.base import Caller, ToolContext
from finassist.nlp.intent import Intent
from finassist.store import Database

AS_OF = date(2026, 10, 31)
CHART_WORDS = ("画", "图", "比较", "对比", "占比")


@dataclass(frozen=True)
class _Spec:
    name: str
    needs_enterprise: bool = False


class StubRouter:
    """Routes chart words to ``chart`` and everything else to ``calculate``."""

    def __init__(self) -> None:
        self.by_name = {"chart": _Spec("chart"), "calculate": _Spec("calculate")}

    def keywords(self) -> set[str]:
        return set(CHART_WORDS) | {"计算"}

    def classify(self, text: str) -> Intent:
        name = "chart" if any(w in text for w in CHART_WORDS) else "calculate"
        return Intent(name, name, 1.0, 1.0, (), False)


@pytest.fixture(scope="module")
def assistant(sample_db: Database) -> Assistant:
    return Assistant(sample_db, as_of=AS_OF, router=StubRouter())


def test_composers_are_registered() -> None:
    assert HANDLERS["chart"] is charts.chart
    assert HANDLERS["calculate"] is calculation.calculate


def test_cashflow_chart_reply_is_cited_and_carries_the_drawing(assistant: Assistant) -> None:
    reply = assistant.ask("画出华东汽车近12个月的现金流", manager_id="M001")
    assert reply.intent == "chart" and reply.enterprise_id == "E0001"
    assert reply.unverified == []
    chart = reply.chart
    assert chart["spec"]["kind"] == "line"
    assert chart["svg"].lstrip().startswith("<?xml")
    assert chart["data"]["categories"][0] == "2025-11"
    assert "2026-10：流入" in reply.text and "[1]" in reply.text
    assert reply.to_json()["chart"]["spec"]["title"] == "华东汽车近12个月现金流"


def test_customer_share_reply_matches_sql(assistant: Assistant, sample_db: Database) -> None:
    reply = assistant.ask("看看恒泰精密前五大客户占比", manager_id="M001")
    assert reply.chart["spec"]["kind"] == "pie"
    query = text(
        "SELECT SUM(amount) FROM invoices WHERE seller_id = 'E0005' AND buyer_id = 'E0001' "
        "AND status <> 'void' AND issue_date BETWEEN '2025-11-01' AND '2026-10-31'"
    )
    total_query = text(
        "SELECT SUM(amount) FROM invoices WHERE seller_id = 'E0005' "
        "AND status <> 'void' AND issue_date BETWEEN '2025-11-01' AND '2026-10-31'"
    )
    with sample_db.read() as conn:
        share = Decimal(conn.execute(query).scalar()) / Decimal(conn.execute(total_query).scalar())
    expected = f"{(share * 100).quantize(Decimal('0.01'))}%"
    assert f"华东汽车集团股份有限公司：占比 {expected}" in reply.text
    assert reply.unverified == []


def test_three_core_enterprises_are_compared_for_an_admin(assistant: Assistant) -> None:
    reply = assistant.ask("比较三家核心企业的逾期率", manager_id="A001")
    assert reply.chart["spec"]["kind"] == "bar"
    assert reply.chart["data"]["categories"] == ["华东汽车", "蜀山建工", "金穗食品"]
    assert reply.unverified == []


def test_named_companies_are_compared_in_order(assistant: Assistant) -> None:
    reply = assistant.ask("对比恒泰精密和远航汽配的回款天数", manager_id="M001")
    assert reply.chart["data"]["categories"] == ["恒泰精密", "远航汽配"]
    assert [s["args"]["enterprise_id"] for s in reply.chart["spec"]["sources"]] == [
        "E0005",
        "E0006",
    ]


def test_a_manager_cannot_chart_another_managers_client(assistant: Assistant) -> None:
    reply = assistant.ask("画出蜀山建工的现金流", manager_id="M001")
    assert reply.chart is None


def test_calculate_reply_shows_the_working(assistant: Assistant) -> None:
    reply = assistant.ask(
        "某行2024年营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？", manager_id="M001"
    )
    assert reply.intent == "calculate"
    assert "结果：27.30亿元" in reply.text
    assert "356.2亿元 ÷ (1 + 8.3%) = 328.90亿元" in reply.text
    assert reply.unverified == []
    assert [e.id for e in reply.evidence] == ["question", "calc:growth_increase"]


def test_calculate_without_numbers_says_what_is_needed(assistant: Assistant) -> None:
    reply = assistant.ask("拨备覆盖率是多少？", manager_id="M001")
    assert "贷款损失准备" in reply.text and reply.unverified == []


def test_composer_called_directly_uses_the_focus_company(sample_db: Database) -> None:
    turn = TurnInput(
        tools=ToolContext(sample_db, Caller("M001"), AS_OF),
        text="画一下他们的融资记录",
        enterprise_id="E0005",
        enterprise_name="恒泰精密",
    )
    answer = charts.chart(turn)
    assert answer.chart["spec"]["sources"][0]["args"]["enterprise_id"] == "E0005"
    assert answer.chart["spec"]["rows"] == "items"


def test_save_chart_writes_png_and_svg(assistant: Assistant, tmp_path: Path) -> None:
    reply = assistant.ask("画出华东汽车近6个月的现金流", manager_id="M001")
    saved = charts.save_chart(reply.chart, tmp_path / "charts", "t1")
    png, svg = Path(saved["png_path"]), Path(saved["svg_path"])
    assert png.read_bytes().startswith(b"\x89PNG") and svg.read_text("utf-8").startswith("<?xml")
    assert [p.name for p in (tmp_path / "charts").iterdir() if p.name.startswith(".")] == []
