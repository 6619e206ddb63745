"""Recommend a financing product for one enterprise, with drivers, risk score and evidence.

Features are computed from the database by :mod:`finassist.finance.analytics`; the rules that
turn them into a product choice and a risk score live in ``data/recommend_rules.yaml``. Every
driver's value is exactly a feature value, and every feature is an evidence record.

>>> rec = recommend(ctx, "E0004")                     # doctest: +SKIP
>>> rec.model_dump(mode="json")["recommended_product"]  # doctest: +SKIP
'early_payment'
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finassist.errors import ConfigError
from finassist.finance.access import EnterpriseId, visible_enterprise
from finassist.finance.base import Record, Tool, ToolContext, ToolResult, register
from finassist.finance.catalogue import Product, load_catalogue
from finassist.finance.evidence import ROLE, Evidence, fmt_money, fmt_value
from finassist.finance.features import Feature, compute_features
from finassist.finance.rows import EnterpriseRow

RULES_FILE = "recommend_rules.yaml"
MAX_EVIDENCE = 20
MAX_ROWS_PER_KIND = 10  # row records per kind and feature: enough to cite, short enough to read
_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_OP_WORDS = {">=": "不低于", ">": "高于", "<=": "不高于", "<": "低于", "==": "等于"}
_FOUR = Decimal("0.0001")


# -- rules (validated YAML) ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureDef(_Model):
    """How a feature is named and computed, for drivers and evidence."""

    label: str
    unit: str
    formula: str


class Condition(_Model):
    """``feature op value``; scores 1 when met, partial credit for ``>=``/``>`` below threshold."""

    feature: str
    op: Literal[">=", ">", "<=", "<", "=="]
    value: Decimal
    weight: Decimal = Field(gt=0)
    required: bool = False
    reason: str

    def met(self, value: Decimal | None) -> bool:
        """True when the feature satisfies the condition (a missing feature never does)."""
        return value is not None and _OPS[self.op](value, self.value)

    def score(self, value: Decimal | None) -> Decimal:
        """1 when met; value/threshold (below 1) for an unmet ``>=``/``>``; otherwise 0."""
        if self.met(value):
            return Decimal(1)
        if value is None or self.op not in (">=", ">") or self.value <= 0:
            return Decimal(0)
        return min(max(value / self.value, Decimal(0)), Decimal("0.99")).quantize(_FOUR)


class ProductRule(_Model):
    """Which roles may apply, and the conditions that make the product fit."""

    applies_to: list[str]
    priority: int
    conditions: list[Condition] = Field(min_length=1)


class RiskComponent(_Model):
    """``points = weight × clamp((value − start) / (full − start), 0, 1)``."""

    feature: str
    weight: Decimal = Field(gt=0)
    start: Decimal
    full: Decimal
    reason: str

    def points(self, value: Decimal | None) -> Decimal:
        """Risk points for a feature value (0 when missing)."""
        if value is None:
            return Decimal(0)
        fraction = (value - self.start) / (self.full - self.start)
        return self.weight * min(max(fraction, Decimal(0)), Decimal(1))


class Escalation(_Model):
    """When a person must review the recommendation."""

    risk_score_at_least: Decimal
    confidence_below: Decimal
    any_positive: list[str]


class RiskRules(_Model):
    """Risk score components, level thresholds and escalation triggers."""

    components: list[RiskComponent]
    levels: dict[Literal["high", "medium"], Decimal]
    escalate: Escalation


class Rules(_Model):
    """The whole rules file."""

    version: int
    features: dict[str, FeatureDef]
    products: dict[str, ProductRule]
    risk: RiskRules

    @model_validator(mode="after")
    def _names_known(self) -> Rules:
        used = [c.feature for p in self.products.values() for c in p.conditions]
        used += [c.feature for c in self.risk.components] + self.risk.escalate.any_positive
        unknown = sorted(set(used) - set(self.features))
        if unknown:
            raise ValueError(f"规则引用了未定义的特征：{unknown}")
        return self


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """The packaged rules (read once per process); product codes must be in the catalogue."""
    text = resources.files("finassist.finance").joinpath("data", RULES_FILE).read_text("utf-8")
    try:
        rules = Rules.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"推荐规则文件 {RULES_FILE} 有误：{exc}") from exc
    catalogue = load_catalogue()
    for code in rules.products:
        if catalogue.find(code) is None:
            raise ConfigError(f"推荐规则中的产品 {code} 不在产品目录中。")
    return rules


# -- the recommendation ---------------------------------------------------------------------------


class Driver(_Model):
    """One reason for the choice: a feature, its exact value, and its weighted contribution."""

    name: str
    key: str
    value: Decimal | None
    unit: str
    weight: Decimal
    contribution: Decimal


class Alternative(_Model):
    """Another product of the enterprise's role, with its fit and why it ranked lower."""

    product: str
    product_name: str
    confidence: float = Field(ge=0, le=1)
    eligible: bool
    reason: str


class Recommendation(_Model):
    """The structured answer; ``model_dump(mode="json")`` is its JSON (Decimal as strings)."""

    enterprise_id: str
    enterprise_name: str
    as_of: date
    recommended_product: str | None
    recommended_product_name: str | None
    recommended_amount: Decimal | None = Field(None, ge=0, description="元")
    recommended_rate_range: list[Decimal] | None = Field(
        None, description="年化利率 %，[下限, 上限]"
    )
    confidence: float = Field(ge=0, le=1)
    risk_score: int = Field(ge=0, le=100)
    risk_level: Literal["高", "中", "低"]
    risk_reasons: list[str]
    evidence: list[str]
    escalate_to_human: bool
    escalation_reasons: list[str]
    drivers: list[Driver] = Field(max_length=3)
    alternatives: list[Alternative]
    rationale: str

    @model_validator(mode="after")
    def _consistent(self) -> Recommendation:
        chosen = self.recommended_product is not None
        if chosen != (self.recommended_amount is not None) or chosen != (
            self.recommended_rate_range is not None
        ):
            raise ValueError("推荐产品、额度与利率区间须同时给出或同时为空")
        rates = self.recommended_rate_range
        if rates is not None and (len(rates) != 2 or rates[0] > rates[1]):
            raise ValueError("利率区间须为 [下限, 上限]")
        return self


@dataclass
class Assessment:
    """A recommendation together with the features and evidence records behind it."""

    recommendation: Recommendation
    features: dict[str, Feature]
    records: list[Record] = field(default_factory=list)


@dataclass(frozen=True)
class _Fit:
    code: str
    rule: ProductRule
    fit: Decimal
    eligible: bool
    drivers: list[Driver]
    failed: list[Condition]


def _evaluate(code: str, rule: ProductRule, features: dict[str, Feature], rules: Rules) -> _Fit:
    drivers, failed = [], []
    for cond in rule.conditions:
        value = features[cond.feature].value
        score = cond.score(value)
        definition = rules.features[cond.feature]
        contribution = (cond.weight * score).quantize(_FOUR)
        drivers.append(
            Driver(
                name=definition.label,
                key=cond.feature,
                value=value,
                unit=definition.unit,
                weight=cond.weight,
                contribution=contribution,
            )
        )
        if not cond.met(value):
            failed.append(cond)
    total = sum((c.weight for c in rule.conditions), Decimal(0))
    fit = (sum((d.contribution for d in drivers), Decimal(0)) / total).quantize(Decimal("0.01"))
    eligible = not any(c.required for c in failed)
    ranked = sorted(drivers, key=lambda d: (-d.contribution, -d.weight))
    return _Fit(code, rule, fit, eligible, ranked, failed)


def _say(template: str, feature: str, features: dict[str, Feature], rules: Rules) -> str:
    return template.format(value=fmt_value(features[feature].value, rules.features[feature].unit))


def _shortfall(cond: Condition, features: dict[str, Feature], rules: Rules) -> str:
    definition = rules.features[cond.feature]
    value = fmt_value(features[cond.feature].value, definition.unit)
    wanted = fmt_value(cond.value, definition.unit)
    return f"{definition.label}为 {value}，未满足“{_OP_WORDS[cond.op]} {wanted}”"


@dataclass(frozen=True)
class _Risk:
    score: int
    level: Literal["高", "中", "低"]
    reasons: list[str]
    features: list[str]  # the features that scored points, most points first


def _risk(features: dict[str, Feature], rules: Rules) -> _Risk:
    scored = [(c, c.points(features[c.feature].value)) for c in rules.risk.components]
    # Rounded up: a component that scores at all (and so is listed as a reason) never leaves
    # the score at 0, and risk is not rounded away.
    total = sum((p for _, p in scored), Decimal(0))
    score = min(100, int(total.to_integral_value(rounding=ROUND_CEILING)))
    hot = sorted((x for x in scored if x[1] > 0), key=lambda x: -x[1])
    levels = rules.risk.levels
    level = "高" if score >= levels["high"] else "中" if score >= levels["medium"] else "低"
    reasons = [_say(c.reason, c.feature, features, rules) for c, _ in hot]
    return _Risk(score, level, reasons, [c.feature for c, _ in hot])


def _escalation(
    features: dict[str, Feature], rules: Rules, risk: _Risk, best: _Fit | None
) -> list[str]:
    esc = rules.risk.escalate
    reasons = [
        f"{rules.features[key].label}为 {fmt_value(features[key].value, rules.features[key].unit)}"
        "，须人工审核"
        for key in esc.any_positive
        if (features[key].value or 0) > 0
    ]
    if risk.score >= esc.risk_score_at_least:
        reasons.append(f"风险评分 {risk.score} 分，达到人工复核线 {esc.risk_score_at_least} 分")
    if best and best.fit < esc.confidence_below:
        reasons.append(f"推荐置信度 {best.fit} 低于 {esc.confidence_below}")
    return reasons


def _alternatives(
    fits: list[_Fit], best: _Fit | None, features: dict[str, Feature], rules: Rules
) -> list[Alternative]:
    return [
        Alternative(
            product=f.code,
            product_name=load_catalogue().name_of(f.code),
            confidence=float(f.fit),
            eligible=f.eligible,
            reason=(
                "；".join(_shortfall(c, features, rules) for c in f.failed)
                or "条件均满足，但适配度低于首选"
            ),
        )
        for f in fits
        if best is None or f.code != best.code
    ]


def _rationale(
    row: EnterpriseRow,
    product: Product | None,
    amount: Decimal | None,
    fits: list[_Fit],
    drivers: list[Driver],
    features: dict[str, Feature],
    rules: Rules,
) -> str:
    if product is not None and amount is not None:
        low, high = product.rate_range
        chosen = next(f for f in fits if f.code == product.code)
        keys = {d.key for d in drivers}
        why = "；".join(
            _say(c.reason, c.feature, features, rules)
            for c in chosen.rule.conditions
            if c.feature in keys and c.met(features[c.feature].value)
        )
        return (
            f"建议{row.short_name}申请{product.name}：{why}。建议额度 {fmt_money(amount)}"
            f"（{product.max_amount.rule}），参考年化利率 {low}%–{high}%。"
        )
    if not fits:
        return f"{row.short_name}为{ROLE.get(row.role, row.role)}，不在现有融资产品的申请方范围内。"
    closest = fits[0]
    missing = "；".join(_shortfall(c, features, rules) for c in closest.failed if c.required)
    return (
        f"根据现有数据，{row.short_name}暂无完全符合条件的融资产品；"
        f"最接近的是{load_catalogue().name_of(closest.code)}，但{missing}。"
    )


def assess(ctx: ToolContext, enterprise_id: str) -> Assessment:
    """Compute features, choose a product, score risk and collect evidence (scope-checked)."""
    row = visible_enterprise(ctx, enterprise_id)
    rules, catalogue = load_rules(), load_catalogue()
    ev = Evidence(ctx, "recommend_products", max_rows=MAX_ROWS_PER_KIND)
    ev.enterprise(row)
    features = compute_features(ctx, row, ev)
    for key, feat in features.items():
        d = rules.features[key]
        ev.figure(
            row.id,
            key,
            feat.value,
            label=d.label,
            unit=d.unit,
            formula=d.formula,
            inputs=feat.inputs,
        )

    fits = [
        _evaluate(code, rule, features, rules)
        for code, rule in rules.products.items()
        if row.role in rule.applies_to
    ]
    fits.sort(key=lambda f: (not f.eligible, -f.fit, f.rule.priority))
    best = fits[0] if fits and fits[0].eligible else None
    product = catalogue.get(best.code) if best else None
    drivers = [d for d in best.drivers if d.contribution > 0][:3] if best else []
    risk = _risk(features, rules)
    escalation = _escalation(features, rules, risk, best)

    amount = None
    if product is not None:
        base = product.max_amount.base
        amount = product.max_amount.apply(features[base].value or Decimal(0))
        ev.product(product)
        ev.figure(
            row.id,
            "recommended_amount",
            amount,
            label="建议融资额度",
            unit="元",
            formula=f"{product.max_amount.rule}，向下取整到 {product.max_amount.round_to} 元",
            inputs=[f"metric:{row.id}:{base}", f"product:{product.code}"],
        )
    ev.figure(
        row.id,
        "risk_score",
        risk.score,
        label="风险评分",
        unit="分",
        formula="按推荐规则对逾期、集中度、风险事件等加权，满分 100",
        inputs=[f"metric:{row.id}:{key}" for key in risk.features],
    )

    evidence: list[str] = []
    for key in [d.key for d in drivers] + risk.features:
        evidence += [f"metric:{row.id}:{key}", *features[key].inputs]
    rationale = _rationale(row, product, amount, fits, drivers, features, rules)
    if risk.reasons:
        rationale += f"需关注：{risk.reasons[0]}。"
    if escalation:
        rationale += "建议转人工审核。"

    recommendation = Recommendation(
        enterprise_id=row.id,
        enterprise_name=row.name,
        as_of=ctx.as_of,
        recommended_product=product.code if product else None,
        recommended_product_name=product.name if product else None,
        recommended_amount=amount,
        recommended_rate_range=list(product.rate_range) if product else None,
        confidence=float(best.fit) if best else 0.0,
        risk_score=risk.score,
        risk_level=risk.level,
        risk_reasons=risk.reasons,
        evidence=list(dict.fromkeys(evidence))[:MAX_EVIDENCE],
        escalate_to_human=bool(escalation),
        escalation_reasons=escalation,
        drivers=drivers,
        alternatives=_alternatives(fits, best, features, rules),
        rationale=rationale,
    )
    return Assessment(recommendation, features, ev.records)


def recommend(ctx: ToolContext, enterprise_id: str) -> Recommendation:
    """The recommendation for one enterprise (see :func:`assess` for its evidence too)."""
    return assess(ctx, enterprise_id).recommendation


def recommendation_records(assessment: Assessment) -> list[Record]:
    """The evidence records behind a recommendation: features, rows, product, scores."""
    return list(assessment.records)


@register
class RecommendProducts(Tool):
    """Recommend a supply-chain finance product with amount, rate, risk and evidence."""

    name = "recommend_products"
    description = (
        "为企业推荐最合适的供应链金融产品：给出产品、建议额度、参考利率区间、置信度、"
        "风险评分与原因、主要依据（驱动因素）和备选产品，并判断是否需要转人工审核。"
    )

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        enterprise_id: EnterpriseId

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        result = assess(ctx, args.enterprise_id)
        data = result.recommendation.model_dump()
        return ToolResult(self.name, args.model_dump(), data, recommendation_records(result))
