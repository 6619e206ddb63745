"""Chart specs, their data (checked against independent SQL) and the drawing."""

from __future__ import annotations

import warnings
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.errors import FinassistError, InvalidInput, NotFound
from finassist.finance.base import Caller, ToolContext, get_tool
from finassist.finance.charts import (
    ChartData,
    ChartSpec,
    Company,
    FontMissing,
    fonts,
    format_value,
    plan_chart,
    render,
    resolve,
    scale_for,
    spec_schema,
)
from finassist.store import Database

AS_OF = date(2026, 10, 31)
CENT = Decimal("0.01")


@pytest.fixture
def ctx(seeded_backend: Database) -> ToolContext:
    return ToolContext(seeded_backend, Caller("M001"), AS_OF)


def cashflow_spec(eid: str = "E0001") -> dict:
    return {
        "kind": "line",
        "title": "现金流",
        "sources": [{"tool": "get_cashflow", "args": {"enterprise_id": eid, "months": 12}}],
        "rows": "months",
        "x": "month",
        "series": [{"field": "inflow"}, {"field": "outflow"}],
    }


# -- the spec ---------------------------------------------------------------------------------


def test_spec_fills_labels_and_units_from_the_catalogue() -> None:
    spec = ChartSpec.model_validate(cashflow_spec())
    assert [(s.label, s.unit) for s in spec.series] == [("流入", "元"), ("流出", "元")]
    assert "kind" in spec_schema()["properties"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sources": [{"tool": "run_sql", "args": {}}]}, "不能用于画图"),
        ({"series": [{"field": "__class__"}]}, "不可用"),
        ({"rows": "invoices"}, "没有可按行绘制的列表"),
        ({"kind": "pie"}, "饼图只能有一个数值字段"),
        ({"series": [{"field": "inflow", "unit": "比例"}]}, "单位是 元"),
        ({"kind": "flowchart"}, "Input should be"),
        ({"code": "import os"}, "Extra inputs"),
    ],
)
def test_a_spec_outside_the_catalogue_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChartSpec.model_validate(cashflow_spec() | change)


def test_plot_chart_tool_refuses_bad_specs_in_chinese(ctx: ToolContext) -> None:
    with pytest.raises(InvalidInput, match="plot_chart 的参数有误"):
        get_tool("plot_chart").run(ctx, cashflow_spec() | {"series": [{"field": "x"}]})


def test_plot_chart_keeps_the_callers_scope(seeded_backend: Database) -> None:
    other = ToolContext(seeded_backend, Caller("M002"), AS_OF)
    with pytest.raises(NotFound):
        get_tool("plot_chart").run(other, cashflow_spec("E0001"))


# -- planning from a question -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "companies", "kind", "tool"),
    [
        ("画出华东汽车近12个月的现金流", ["E0001"], "line", "get_cashflow"),
        ("看看恒泰精密前五大客户占比", ["E0005"], "pie", "get_concentration"),
        ("比较三家企业的逾期率", ["E0001", "E0005", "E0006"], "bar", "get_payment_behavior"),
        ("用柱状图画华东汽车的现金流", ["E0001"], "bar", "get_cashflow"),
        ("对比两家的回款结构", ["E0005", "E0006"], "stacked_bar", "get_payment_behavior"),
        ("回款天数与逾期率散点图", ["E0005", "E0006"], "scatter", "get_payment_behavior"),
    ],
)
def test_plan_picks_view_and_kind(
    question: str, companies: list[str], kind: str, tool: str
) -> None:
    spec = plan_chart(question, [Company(c, c) for c in companies], {"months": 12})
    assert spec.kind == kind
    assert {s.tool for s in spec.sources} == {tool}
    assert [s.args["enterprise_id"] for s in spec.sources] == companies


def test_plan_without_a_company_asks_for_one() -> None:
    with pytest.raises(InvalidInput, match="哪家企业"):
        plan_chart("画个图", [])


# -- data against independent SQL ---------------------------------------------------------------


def test_cashflow_chart_values_match_sql(ctx: ToolContext) -> None:
    spec = plan_chart(
        "画出华东汽车近12个月的现金流", [Company("E0001", "华东汽车")], {"months": 12}
    )
    data = resolve(spec, ctx)
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    query = text(
        "SELECT payer_id, payee_id, amount, paid_date FROM payments "
        "WHERE (payer_id = :e OR payee_id = :e) AND paid_date BETWEEN :s AND :t"
    )
    with ctx.db.read() as conn:
        for row in conn.execute(query, {"e": "E0001", "s": date(2025, 11, 1), "t": AS_OF}):
            day = (
                row.paid_date
                if isinstance(row.paid_date, date)
                else date.fromisoformat(row.paid_date)
            )
            direction = "in" if row.payee_id == "E0001" else "out"
            sums[(direction, f"{day:%Y-%m}")] += Decimal(row.amount) / 100
    assert len(data.categories) == 12
    inflow, outflow, net = data.series
    for i, month in enumerate(data.categories):
        assert inflow.values[i] == sums[("in", month)].quantize(CENT)
        assert outflow.values[i] == sums[("out", month)].quantize(CENT)
        assert net.values[i] == (sums[("in", month)] - sums[("out", month)]).quantize(CENT)


def test_customer_share_pie_matches_sql(ctx: ToolContext) -> None:
    spec = plan_chart("看看恒泰精密前五大客户占比", [Company("E0005", "恒泰精密")], {"months": 12})
    data = resolve(spec, ctx)
    query = text(
        "SELECT e.name, SUM(i.amount) AS total FROM invoices i JOIN enterprises e ON e.id = i.buyer_id "
        "WHERE i.seller_id = 'E0005' AND i.status <> 'void' AND i.issue_date BETWEEN :s AND :t "
        "GROUP BY e.name ORDER BY total DESC"
    )
    with ctx.db.read() as conn:
        rows = conn.execute(query, {"s": date(2025, 11, 1), "t": AS_OF}).all()
    grand = sum(Decimal(r.total) for r in rows)
    assert data.categories == [r.name for r in rows[:5]]
    expected = [(Decimal(r.total) / grand).quantize(Decimal("0.0001")) for r in rows[:5]]
    assert data.series[0].values == expected


def test_overdue_comparison_matches_sql(ctx: ToolContext) -> None:
    companies = [
        Company("E0001", "华东汽车"),
        Company("E0005", "恒泰精密"),
        Company("E0006", "远航汽配"),
    ]
    data = resolve(plan_chart("比较三家的逾期率", companies), ctx)
    query = text(
        "SELECT amount + tax - paid_amount AS open, due_date FROM invoices WHERE seller_id = :e "
        "AND status IN ('unpaid', 'partial') AND issue_date <= :t"
    )
    expected = []
    with ctx.db.read() as conn:
        for company in companies:
            rows = conn.execute(query, {"e": company.id, "t": AS_OF}).all()
            due = [
                r.due_date if isinstance(r.due_date, date) else date.fromisoformat(r.due_date)
                for r in rows
            ]
            total = sum(Decimal(r.open) for r in rows)
            late = sum(Decimal(r.open) for r, d in zip(rows, due, strict=True) if d < AS_OF)
            expected.append(
                (late / total).quantize(Decimal("0.0001")) if total else Decimal("0.0000")
            )
    assert data.categories == ["华东汽车", "恒泰精密", "远航汽配"]
    assert data.series[0].values == expected
    assert any(v > 0 for v in expected)  # the sample has overdue receivables to compare


# -- drawing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "画出华东汽车近12个月的现金流",
        "看看华东汽车前五大客户占比",
        "华东汽车回款结构",
        "华东汽车融资",
    ],
)
def test_render_draws_png_and_svg_with_every_glyph(sample_db: Database, question: str) -> None:
    ctx = ToolContext(sample_db, Caller("M001"), AS_OF)
    data = resolve(plan_chart(question, [Company("E0001", "华东汽车")], {"months": 12}), ctx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart = render(data)
    assert chart.png.startswith(b"\x89PNG")
    assert chart.svg.lstrip().startswith("<?xml") and "<svg" in chart.svg
    assert chart.missing_glyphs == []
    assert not [w for w in caught if "missing from" in str(w.message)]


def test_chart_data_round_trips_through_json(sample_db: Database) -> None:
    ctx = ToolContext(sample_db, Caller("M001"), AS_OF)
    spec = plan_chart(
        "比较两家的逾期率", [Company("E0001", "华东汽车"), Company("E0005", "恒泰精密")]
    )
    data = resolve(spec, ctx)
    again = ChartData.from_json(spec.model_dump(mode="json"), data.to_json())
    assert again.categories == data.categories and again.series == data.series
    with pytest.raises(InvalidInput, match="图表数据格式不正确"):
        ChartData.from_json(
            spec.model_dump(mode="json"),
            {"categories": ["a"], "series": [{"label": "x", "unit": "元", "values": []}]},
        )


def test_money_is_shown_in_wan_and_yi_with_separators() -> None:
    assert scale_for("元", [Decimal("35620000000")]).axis_label == "金额（亿元）"
    assert scale_for("元", [Decimal("123456")]).axis_label == "金额（万元）"
    assert scale_for("元", [Decimal("999")]).axis_label == "金额（元）"
    wan = scale_for("元", [Decimal("123456789")])
    assert format_value(Decimal("123456789"), wan) == "1.23亿"
    assert format_value(Decimal("12345678"), scale_for("元", [Decimal("12345678")])) == "1,234.57万"
    assert format_value(Decimal("0.1234"), scale_for("比例", [])) == "12.34%"


def test_a_damaged_install_without_the_bundled_font_says_to_reinstall(tmp_path) -> None:
    with pytest.raises(FontMissing, match="重新安装") as err:
        fonts.find_cjk_font(tmp_path / "gone.ttf")
    assert isinstance(err.value, FinassistError)


def test_the_bundled_font_draws_every_character_of_the_sample_names(sample_db) -> None:
    from fontTools.ttLib import TTFont
    from sqlalchemy import text

    cmap = TTFont(fonts.BUNDLED_FONT).getBestCmap()
    with sample_db.read() as conn:
        names = [row[0] for row in conn.execute(text("SELECT name FROM enterprises"))]
    used = set("".join(names)) | set("现金流（万元）应收账款回款客户集中度近12个月")
    assert names and not {c for c in used if ord(c) not in cmap}
    font = fonts.find_cjk_font()
    assert font.family and font.path
