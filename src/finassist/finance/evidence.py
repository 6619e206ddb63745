"""Evidence records: domain rows and computed figures stated as one Chinese line each.

Every figure a tool reports is backed by a record here, so the assistant can cite it and the
evidence guard can check it. Money is written ``1,234,567.89 元``; ratios as percentages.

>>> fmt_money(Decimal("1234567.891"))
'1,234,567.89 元'
>>> fmt_value(Decimal("0.2531"), "比例")
'25.31%'
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from finassist.errors import ConfigError
from finassist.finance import rows as rw
from finassist.finance.base import Record, ToolContext
from finassist.finance.catalogue import Product, load_catalogue, product_record

MAX_ROW_RECORDS = 20
MAX_METRIC_INPUTS = 20
METRICS_FILE = "metrics.yaml"

ROLE = {"core": "核心企业", "supplier": "供应商", "distributor": "经销商"}
INVOICE_STATUS = {"unpaid": "未付", "partial": "部分支付", "paid": "已付清", "void": "已作废"}
PAYMENT_KIND = {"regular": "正常付款", "early": "提前付款", "financing": "融资付款"}
ORDER_STATUS = {"open": "未交付", "delivered": "已交付", "cancelled": "已取消"}
FINANCING_STATUS = {
    "applied": "已申请",
    "approved": "已审批",
    "active": "存续中",
    "repaid": "已结清",
    "overdue": "逾期",
    "rejected": "已拒绝",
}
RISK_KIND = {
    "litigation": "涉诉",
    "execution": "被执行",
    "abnormal_invoice": "异常发票",
    "tax_violation": "税务违法",
    "admin_penalty": "行政处罚",
}
SEVERITY = {"high": "高", "medium": "中", "low": "低"}
EVENT_STATUS = {"open": "未结", "closed": "已结"}


# -- formatting ------------------------------------------------------------------------------------


def fmt_money(value: Decimal) -> str:
    """``1,234,567.89 元``."""
    return f"{value:,.2f} 元"


def fmt_value(value: Decimal | int | str | None, unit: str) -> str:
    """A metric value as text: ratios as percent, money with separators, others with the unit."""
    if value is None:
        return "无数据"
    if isinstance(value, str):
        return value
    if unit == "元":
        return fmt_money(Decimal(value))
    if unit == "比例":
        return f"{Decimal(value) * 100:.2f}%"
    return f"{value} {unit}".rstrip()


def _fields(row: object) -> dict[str, Any]:
    """A copy of a row dataclass's fields (records must not share the row's own dict)."""
    return dict(vars(row))


class Evidence:
    """Collects records for one tool result: rows stated in Chinese, and metrics."""

    def __init__(self, ctx: ToolContext, tool: str, *, max_rows: int = MAX_ROW_RECORDS) -> None:
        self.ctx = ctx
        self.tool = tool
        self.max_rows = max_rows
        self._records: dict[str, Record] = {}
        self._names: dict[str, str] = {}

    @property
    def records(self) -> list[Record]:
        """Records in the order they were added (no duplicates)."""
        return list(self._records.values())

    def name(self, enterprise_id: str | None) -> str:
        """An enterprise's name for evidence text (its id when unknown)."""
        if enterprise_id is None:
            return "无"
        return self._names.get(enterprise_id, enterprise_id)

    def names(self, ids: Iterable[str | None]) -> dict[str, str]:
        """Fetch and cache names of ``ids``; returns the cache."""
        missing = {i for i in ids if i and i not in self._names}
        self._names.update(rw.enterprise_names(self.ctx, missing))
        return self._names

    def _add(self, kind: str, key: str, source: str, data: dict[str, Any], text: str) -> str:
        record_id = f"{kind}:{key}"
        self._records.setdefault(record_id, Record(kind, record_id, source, data, text))
        return record_id

    def invoices(self, rows: Iterable[rw.InvoiceRow]) -> list[str]:
        """Invoice records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names([r.seller_id for r in rows] + [r.buyer_id for r in rows])
        ids = []
        for r in rows:
            status = INVOICE_STATUS.get(r.status, r.status)
            if r.status == "paid" and r.paid_date:
                status = f"已于 {r.paid_date} 付清"
            elif r.status == "partial":
                status = f"部分支付（已付 {fmt_money(r.paid_amount)}）"
            text = (
                f"发票 {r.invoice_no}：销方 {self.name(r.seller_id)}，"
                f"购方 {self.name(r.buyer_id)}，金额 {fmt_money(r.amount)}，"
                f"税额 {fmt_money(r.tax)}，开票日 {r.issue_date}，到期日 {r.due_date}，{status}"
            )
            data = {**_fields(r), "total": r.total, "outstanding": r.outstanding}
            ids.append(self._add("invoice", r.invoice_no, "数据库·发票", data, text))
        return ids

    def payments(self, rows: Iterable[rw.PaymentRow]) -> list[str]:
        """Payment records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names([r.payer_id for r in rows] + [r.payee_id for r in rows])
        return [
            self._add(
                "payment",
                r.id,
                "数据库·付款",
                _fields(r),
                f"付款 {r.id}：{self.name(r.payer_id)} 向 {self.name(r.payee_id)} 支付 "
                f"{fmt_money(r.amount)}，付款日 {r.paid_date}，对应发票 {r.invoice_no}，"
                f"{PAYMENT_KIND.get(r.kind, r.kind)}",
            )
            for r in rows
        ]

    def orders(self, rows: Iterable[rw.OrderRow]) -> list[str]:
        """Order records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names([r.buyer_id for r in rows] + [r.seller_id for r in rows])
        return [
            self._add(
                "order",
                r.order_no,
                "数据库·订单",
                {**_fields(r), "open_amount": r.open_amount},
                f"订单 {r.order_no}：买方 {self.name(r.buyer_id)}，卖方 {self.name(r.seller_id)}，"
                f"金额 {fmt_money(r.amount)}，已预付 {fmt_money(r.prepaid_amount)}，"
                f"下单日 {r.order_date}，交货日 {r.delivery_date}，"
                f"{ORDER_STATUS.get(r.status, r.status)}",
            )
            for r in rows
        ]

    def financing(self, rows: Iterable[rw.FinancingRow]) -> list[str]:
        """Financing records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names([r.applicant_id for r in rows] + [r.core_id for r in rows])
        catalogue = load_catalogue()
        return [
            self._add(
                "financing",
                r.id,
                "数据库·融资",
                {**_fields(r), "product_name": catalogue.name_of(r.product)},
                f"融资 {r.id}：{catalogue.name_of(r.product)}，申请方 {self.name(r.applicant_id)}，"
                f"核心企业 {self.name(r.core_id)}，{r.bank}，金额 {fmt_money(r.amount)}，"
                f"年利率 {r.rate}%，{r.start_date} 至 {r.end_date}，"
                f"{FINANCING_STATUS.get(r.status, r.status)}",
            )
            for r in rows
        ]

    def risk_events(self, rows: Iterable[rw.RiskEventRow]) -> list[str]:
        """Risk event records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names(r.enterprise_id for r in rows)
        ids = []
        for r in rows:
            amount = f"，涉及金额 {fmt_money(r.amount)}" if r.amount is not None else ""
            text = (
                f"风险事件 {r.id}：{self.name(r.enterprise_id)}，{RISK_KIND.get(r.kind, r.kind)}"
                f"（严重程度{SEVERITY.get(r.severity, r.severity)}，"
                f"{EVENT_STATUS.get(r.status, r.status)}），{r.title}，日期 {r.event_date}"
                f"{amount}，来源 {r.source}"
            )
            ids.append(self._add("risk_event", r.id, "数据库·风险事件", _fields(r), text))
        return ids

    def enterprise(self, r: rw.EnterpriseRow) -> str:
        """An enterprise record; returns its id."""
        self._names[r.id] = r.name
        text = (
            f"企业 {r.id}：{r.name}（简称 {r.short_name}），统一社会信用代码 {r.uscc}，"
            f"{ROLE.get(r.role, r.role)}，行业 {r.industry}，地区 {r.region}，评级 {r.rating}，"
            f"注册资本 {fmt_money(r.registered_capital)}，成立于 {r.established}"
        )
        return self._add("enterprise", r.id, "数据库·企业", _fields(r), text)

    def relationships(self, rows: Iterable[rw.RelationshipRow]) -> list[str]:
        """Relationship records; returns their ids."""
        rows = list(rows)[: self.max_rows]
        self.names([r.core_id for r in rows] + [r.counterparty_id for r in rows])
        return [
            self._add(
                "relationship",
                str(r.id),
                "数据库·合作关系",
                _fields(r),
                f"合作关系：核心企业 {self.name(r.core_id)} 与{ROLE.get(r.kind, r.kind)} "
                f"{self.name(r.counterparty_id)}，账期 {r.payment_terms_days} 天，自 {r.since} 起",
            )
            for r in rows
        ]

    def product(self, product: Product) -> str:
        """A catalogue entry as a record; returns its id."""
        record = product_record(product)
        self._records.setdefault(record.id, record)
        return record.id

    def figure(
        self,
        enterprise_id: str,
        name: str,
        value: Decimal | int | str | None,
        *,
        label: str,
        unit: str,
        formula: str,
        inputs: Iterable[str] = (),
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A computed figure with its label, unit, how it was computed and from which records.

        ``extra`` adds keys to ``data`` (e.g. the monthly table behind a cash-flow total).
        """
        data: dict[str, Any] = {
            "name": name,
            "label": label,
            "value": value,
            "unit": unit,
            "formula": formula,
            "inputs": list(dict.fromkeys(inputs))[:MAX_METRIC_INPUTS],
            "enterprise_id": enterprise_id,
            **(extra or {}),
        }
        text = f"{self.name(enterprise_id)}·{label}：{fmt_value(value, unit)}（{formula}）"
        return self._add("metric", f"{enterprise_id}:{name}", f"计算·{self.tool}", data, text)

    def metric(
        self,
        enterprise_id: str,
        key: str,
        value: Decimal | int | str | None,
        inputs: Iterable[str] = (),
        *,
        suffix: str = "",
        extra: dict[str, Any] | None = None,
        **params: object,
    ) -> str:
        """A figure defined in ``data/metrics.yaml`` under ``key``; ``params`` fill its text.

        Money and ratio parameters are formatted for reading (``1,234.00 元``, ``25.00%``).
        """
        definition = load_metric_definitions()[key]
        shown = {k: _param(v) for k, v in params.items()}
        return self.figure(
            enterprise_id,
            f"{key}_{suffix}" if suffix else key,
            value,
            label=definition["label"].format(**shown),
            unit=definition["unit"],
            formula=definition["formula"].format(**shown),
            inputs=inputs,
            extra=extra,
        )


def _param(value: object) -> str:
    """Decimal parameters are money (2 places) in formulas; everything else as is."""
    return fmt_money(value) if isinstance(value, Decimal) else str(value)


@lru_cache(maxsize=1)
def load_metric_definitions() -> dict[str, dict[str, str]]:
    """Metric labels, units and formula templates from ``data/metrics.yaml`` (read once)."""
    path = resources.files("finassist.finance").joinpath("data", METRICS_FILE)
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))["metrics"]
        return {
            key: {f: str(item[f]) for f in ("label", "unit", "formula")}
            for key, item in raw.items()
        }
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"指标定义文件 {METRICS_FILE} 格式错误：{exc}") from exc
