"""The product catalogue: five supply-chain finance products, as data (``data/products.yaml``).

The YAML is validated into :class:`Product` models on first use, so a typo in the file is a
clear :class:`ConfigError`, not a crash halfway through a reply.

>>> load_catalogue().get("反向保理").code
'reverse_factoring'
>>> load_catalogue().get("early_payment").name
'提前回款'
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finassist.errors import ConfigError, NotFound
from finassist.finance.base import Record, Tool, ToolContext, ToolResult, register

PRODUCTS_FILE = "products.yaml"


class AmountRule(BaseModel):
    """How the maximum amount is derived: ``floor(base × ratio / round_to) × round_to``, capped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field(description="特征名（元），见 recommend_rules.yaml")
    ratio: Decimal = Field(gt=0, le=1)
    cap: Decimal = Field(gt=0)
    round_to: Decimal = Field(gt=0)
    rule: str

    def apply(self, base_amount: Decimal) -> Decimal:
        """The amount this rule allows for ``base_amount`` yuan (never negative).

        >>> AmountRule(base="x", ratio="0.8", cap="100000", round_to="10000", rule="").apply(
        ...     Decimal("123456.78"))
        Decimal('90000.00')
        """
        raw = max(base_amount, Decimal(0)) * self.ratio
        units = (raw / self.round_to).to_integral_value(rounding=ROUND_DOWN)
        return min(units * self.round_to, self.cap).quantize(Decimal("0.01"))


class Product(BaseModel):
    """One catalogue entry. ``rate_range`` is annual percent, ``[low, high]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    applicant: Literal["supplier", "distributor"]
    applicant_label: str
    summary: str
    description: str
    eligibility: list[str]
    rate_range: tuple[Decimal, Decimal]
    max_amount: AmountRule
    term: str
    materials: list[str]
    fits_when: list[str]

    @model_validator(mode="after")
    def _rates_ordered(self) -> Product:
        low, high = self.rate_range
        if not (Decimal(0) < low <= high):
            raise ValueError(f"{self.code}: rate_range 需满足 0 < 下限 <= 上限")
        return self

    def to_data(self) -> dict[str, object]:
        """Python values for a tool result (Decimal kept)."""
        return self.model_dump()

    def text(self) -> str:
        """One Chinese line stating the product's key terms, for evidence."""
        low, high = self.rate_range
        return (
            f"产品 {self.name}（{self.code}）：申请方为{self.applicant_label}；{self.summary}"
            f"参考年化利率 {low}%–{high}%；额度规则：{self.max_amount.rule}；期限：{self.term}。"
        )


class Catalogue:
    """All products, looked up by code, Chinese name or alias."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self._by_key: dict[str, Product] = {}
        for product in products:
            for key in (product.code, product.name, *product.aliases):
                self._by_key[_key(key)] = product

    def get(self, code_or_name: str) -> Product:
        """The product with this code, name or alias; otherwise :class:`NotFound`."""
        product = self._by_key.get(_key(code_or_name))
        if product is None:
            choices = "、".join(f"{p.name}（{p.code}）" for p in self.products)
            raise NotFound(f"没有名为“{code_or_name}”的融资产品。可选：{choices}。")
        return product

    def find(self, code_or_name: str) -> Product | None:
        """Like :meth:`get` but None when unknown."""
        return self._by_key.get(_key(code_or_name))

    def name_of(self, code: str) -> str:
        """The Chinese name for a product code; the code itself when unknown (old data)."""
        product = self.find(code)
        return product.name if product else code

    def codes(self) -> list[str]:
        """Product codes in catalogue order."""
        return [p.code for p in self.products]


def _key(text: str) -> str:
    return text.strip().lower().replace(" ", "").replace("_", "")


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The packaged catalogue (read once per process, on first use)."""
    text = resources.files("finassist.finance").joinpath("data", PRODUCTS_FILE).read_text("utf-8")
    return parse_catalogue(text)


def parse_catalogue(text: str) -> Catalogue:
    """Validate catalogue YAML text; problems are :class:`ConfigError` naming the entry."""
    try:
        raw = yaml.safe_load(text)
        products = [Product.model_validate(item) for item in raw["products"]]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"产品目录文件格式错误：{exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"产品目录内容有误：{exc}") from exc
    codes = [p.code for p in products]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"产品目录中有重复的产品代码：{codes}")
    return Catalogue(products)


# -- tools -----------------------------------------------------------------------------------------


def product_record(product: Product) -> Record:
    """A product as an evidence record (``product:<code>``)."""
    return Record(
        "product", f"product:{product.code}", "产品目录", product.to_data(), product.text()
    )


@register
class ListProducts(Tool):
    """Every product in the catalogue."""

    name = "list_products"
    description = (
        "列出全部供应链金融产品：名称、代码、申请方、适用情形、参考利率区间、额度规则和期限。"
    )

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        products = load_catalogue().products
        data = {"products": [p.to_data() for p in products]}
        return ToolResult(self.name, {}, data, [product_record(p) for p in products])


@register
class GetProduct(Tool):
    """One product by code, Chinese name or alias."""

    name = "get_product"
    description = "按产品代码、中文名称或别名查询一个供应链金融产品的完整说明（准入条件、材料等）。"

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        product: str = Field(
            min_length=1,
            max_length=32,
            description="产品代码或中文名称，例如 reverse_factoring 或“反向保理”",
        )

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        product = load_catalogue().get(args.product)
        data = {"product": product.to_data()}
        return ToolResult(self.name, args.model_dump(), data, [product_record(product)])
