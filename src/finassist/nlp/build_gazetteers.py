"""Build the packaged gazetteers from the market lists in ``shared/data/market_gazetteers``.

Only columns whose source states a licence that allows redistribution are written (see
``data/gazetteers/README.md``): stock codes and short names (1nchaos/adata, Apache-2.0), the
EastMoney industry board of each stock and the index, industry and concept board names
(fasiondog/hikyuu, Apache-2.0 / MIT), THS industries (HackerChenX/freedom, MIT), CSRC 门类
(adata's SZSE fixture, Apache-2.0) and fund codes, names and types (Cruz2003/fund-valuation-
assistant, MIT). Columns from sources with no stated licence (SW2021 industry per stock, the
Tushare fund-manager list, the Tushare index rows) are left out; the hand-written
``finance_terms.yaml`` covers what they would have added (SW level-1 names, major indices, fund
companies).

    python -m finassist.nlp.build_gazetteers --source ../shared/data/market_gazetteers
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from finassist.errors import InvalidInput
from finassist.fileio import write_atomic

OUT_DIR = Path(__file__).parent / "data" / "gazetteers"
# Redistributable sources by file, as stated in the source README (checked 2026 by the team).
INDEX_SOURCES_OK = ("hikyuu",)
INDUSTRY_SCHEMES_OK = ("EM", "THS", "CSRC")
# Fund share-class and fee-class suffixes: one gazetteer row per fund, not per share class.
_FUND_CLASS = re.compile(
    r"(\(后端\)|\(前端\)|[A-HR-Z]类?|[A-H]\d?|\(人民币\)|\(美元[^)]*\)|美元[现汇钞]*)$"
)
_DELISTED = re.compile(r"(^PT|退$|^退市)")


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidInput(f"找不到 {path}：请用 --source 指向 market_gazetteers 目录。")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(c.replace("\t", " ") for c in row) for row in rows]
    write_atomic(path, "\n".join(lines) + "\n")


def build(source: Path, out_dir: Path = OUT_DIR) -> dict[str, int]:
    """Write stocks/funds/indices/industries/concepts TSVs; returns rows written per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    stocks = [
        [r["code"], r["name"], r["exchange"], r["industry_em"], r.get("full_name", "")]
        for r in _rows(source / "stocks.csv")
        if not _DELISTED.search(r["name"])
    ]
    _write_tsv(
        out_dir / "stocks.tsv", ["code", "name", "exchange", "industry_em", "full_name"], stocks
    )
    counts["stocks"] = len(stocks)

    seen: set[str] = set()
    funds: list[list[str]] = []
    for r in _rows(source / "funds.csv"):
        base = _FUND_CLASS.sub("", r["name"]).strip()
        if len(base) < 4 or base in seen:
            continue
        seen.add(base)
        funds.append([r["code"], base, r["type"]])
    _write_tsv(out_dir / "funds.tsv", ["code", "name", "type"], funds)
    counts["funds"] = len(funds)

    indices = [
        [r["code"], r["name"]]
        for r in _rows(source / "indices.csv")
        if any(ok in r["source"] for ok in INDEX_SOURCES_OK)
    ]
    _write_tsv(out_dir / "indices.tsv", ["code", "name"], indices)
    counts["indices"] = len(indices)

    industries = sorted(
        {
            (r["scheme"], re.sub(r"^[A-Z] ", "", r["name"]))
            for r in _rows(source / "industries.csv")
            if r["scheme"] in INDUSTRY_SCHEMES_OK
        }
    )
    _write_tsv(out_dir / "industries.tsv", ["scheme", "name"], [list(r) for r in industries])
    counts["industries"] = len(industries)

    concepts = sorted({r["name"] for r in _rows(source / "concepts.csv")})
    _write_tsv(out_dir / "concepts.tsv", ["name"], [[c] for c in concepts])
    counts["concepts"] = len(concepts)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data/market_gazetteers"))
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    for name, n in build(args.source, args.out).items():
        print(f"{name}\t{n}")


if __name__ == "__main__":
    main()
