"""Figures computed from the domain database: cash flow, payment behaviour, overdue, concentration.

Pure functions of ``(db, enterprise id, window or as_of)``, where ``db`` is any
:class:`~finassist.finance.rows.Reader` (a ``Database``, or a tool run's ``ToolContext``). Each
runs a few fixed parameterised queries on the read-only connection and returns dataclasses
holding ``Decimal`` values plus the rows to cite as evidence.

Counts and sums are aggregated in SQL (per day, per counterparty, or in total, with day
differences computed in the database), so the work in Python does not grow with the number of
invoices: a core enterprise has hundreds of thousands. Only the rows cited as evidence are read
whole: the first few by a stated order, never all of them. Month bucketing is done in Python
over per-day sums, so the queries stay portable across SQLite, PostgreSQL and MySQL.

Conventions: money is yuan rounded to 2 places, shares are ratios 0..1 rounded to 4 places,
days are rounded to 1 place. An invoice's *total* is ``amount + tax`` (what the buyer pays);
*outstanding* is ``total - paid_amount``. Void invoices are ignored everywhere. Windows are
inclusive of both ends.

Modules: ``common`` (rounding, windows, SQL building blocks), ``cashflow`` (payments, inflow,
open orders), ``receivables`` (outstanding, overdue, payment behaviour), ``concentration``
(counterparty shares, abnormal invoices), ``risk`` (risk level).
"""

from finassist.finance.analytics.cashflow import (
    FUNDING_HORIZON_MONTHS,
    FUNDING_SIDE,
    INFLOW_WINDOW_MONTHS,
    OPEN_ORDER_MONTHS_CAP,
    CashFlow,
    MonthFlow,
    OpenOrders,
    cash_flow,
    monthly_inflow,
    open_orders,
)
from finassist.finance.analytics.common import (
    CENT,
    SHARE,
    TENTH,
    Window,
    days_between,
    money,
    month_key,
    share,
    tenth,
)
from finassist.finance.analytics.concentration import (
    ABNORMAL_MULTIPLE,
    AbnormalInvoices,
    Concentration,
    CounterpartyShare,
    abnormal_invoices,
    concentration,
)
from finassist.finance.analytics.receivables import (
    EARLY_TOLERANCE_DAYS,
    CoreReceivables,
    CounterpartyBalance,
    Outstanding,
    Overdue,
    PaymentBehavior,
    core_receivables,
    invoiced_total,
    outstanding,
    overdue,
    payment_behavior,
    receivables_by_counterparty,
)
from finassist.finance.analytics.risk import RiskSignals, risk_signals
from finassist.finance.rows import ZERO

__all__ = [
    "ABNORMAL_MULTIPLE",
    "CENT",
    "EARLY_TOLERANCE_DAYS",
    "FUNDING_HORIZON_MONTHS",
    "FUNDING_SIDE",
    "INFLOW_WINDOW_MONTHS",
    "OPEN_ORDER_MONTHS_CAP",
    "SHARE",
    "TENTH",
    "ZERO",
    "AbnormalInvoices",
    "CashFlow",
    "Concentration",
    "CoreReceivables",
    "CounterpartyBalance",
    "CounterpartyShare",
    "MonthFlow",
    "OpenOrders",
    "Outstanding",
    "Overdue",
    "PaymentBehavior",
    "RiskSignals",
    "Window",
    "abnormal_invoices",
    "cash_flow",
    "concentration",
    "core_receivables",
    "days_between",
    "invoiced_total",
    "money",
    "month_key",
    "monthly_inflow",
    "open_orders",
    "outstanding",
    "overdue",
    "payment_behavior",
    "receivables_by_counterparty",
    "risk_signals",
    "share",
    "tenth",
]
