"""Calculator quality on the issue-16 word problems: right / wrong / declined, three ways.

Problems: ``tests/data/calc_problems.yaml`` (written for issue 16; context with distractor
quantities and mixed units; gold answers computed from an independent expression per problem).

- ``old``: the calculator as it was before issue 16 (``git show <rev>:.../calculator.py``, run
  from a temporary module in this same process);
- ``offline``: today's calculator binding operands itself (no model), then the guard's check;
- ``scripted``: a scripted model fills the formula and operand bindings (the problem's ``model``
  entry, deliberately wrong on the should-decline problems); the calculator computes and the
  guard's check must pass, else the answer is withheld (declined).

A decline on a should-decline problem counts as right; an answer there counts as wrong.

A second table, where ``--shared`` holds the public data: the answered rows of Fin-Eva
金融逻辑/金融数值计算 (textbook ratio and interest word problems, multiple choice; no problem of it
is in the problem set, but the named-ratio catalogue was written after about ten of its questions
had been seen, so this is a development figure), ``old`` and ``offline`` only. An answer is right when its number is
the gold option's (to 1%, or its percentage form), wrong otherwise.

    python bench/calculator.py [--old-rev 7a339ef] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import re
import subprocess
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from finassist.errors import InvalidInput
from finassist.finance.calc.check import verify
from finassist.finance.calc.quantities import SCALES, find_quantities, unit_text
from finassist.finance.calculator import calculate, calculate_bound

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "tests" / "data" / "calc_problems.yaml"
OLD_REV = "7a339ef"


def problems() -> list[dict[str, Any]]:
    """The problem set."""
    return yaml.safe_load(PROBLEMS.read_text("utf-8"))["problems"]


def _split(unit: str) -> tuple[Decimal, str]:
    for word in sorted(SCALES, key=len, reverse=True):
        if word and unit.startswith(word) and unit != word:
            return SCALES[word], unit[len(word) :]
    return Decimal(1), unit


def same(value: Decimal, unit: str, gold: Decimal, gold_unit: str) -> bool:
    """Whether an answer equals the gold one (two decimals; amounts in any scale of one base)."""
    if unit != gold_unit:
        (s1, b1), (s2, b2) = _split(unit), _split(gold_unit)
        if b1 != b2 or b1 in ("%", "个百分点", "倍", "天"):
            return False
        value, gold = value * s1, gold * s2
        tolerance = Decimal("0.011") * min(s1, s2)
    else:
        tolerance = Decimal("0.011")
    return abs(value - gold) <= max(tolerance, abs(gold) * Decimal("0.0005"))


def gold_of(problem: dict[str, Any]) -> tuple[Decimal, str]:
    answer = problem["answer"]
    return Decimal(repr(eval(answer["expr"], {"__builtins__": {}}))), answer["unit"]


def grade(problem: dict[str, Any], answer: tuple[Decimal, str] | None) -> str:
    if answer is None:
        return "right" if problem.get("decline") else "declined"
    if problem.get("decline"):
        return "wrong"
    return "right" if same(*answer, *gold_of(problem)) else "wrong"


def run_offline(problem: dict[str, Any]) -> tuple[Decimal, str] | None:
    try:
        calc = calculate(problem["question"], problem.get("context"))
    except InvalidInput:
        return None
    if verify(calc.to_json(), problem["question"], [problem.get("context") or ""]):
        return None
    return calc.result_value, calc.unit


def model_operands(problem: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The scripted model's bindings: each quote's last quantity, copied as written."""
    spec = problem["model"]
    override = spec.get("unit_override", {})
    out = {}
    for name, quote in spec["operands"].items():
        if isinstance(quote, dict):
            out[name] = dict(quote)
            continue
        q = find_quantities(quote)[-1]
        unit = (
            unit_text(q.scale, q.base)
            if q.kind == "amount" and q.base
            else (q.unit if q.kind == "amount" else q.base)
        )
        out[name] = {"value": f"{q.value * q.sign}", "unit": unit, "source": quote}
        if name in override:
            out[name]["unit"] = override[name]
    return out


def run_scripted(problem: dict[str, Any]) -> tuple[Decimal, str] | None:
    if not problem.get("model"):
        return None  # the model declined
    question, context = problem["question"], problem.get("context") or ""
    try:
        calc = calculate_bound(
            problem["model"]["formula"], model_operands(problem), question=question
        )
    except InvalidInput:
        return None
    if verify(calc.to_json(), question, [context]):
        return None  # the guard withheld it
    return calc.result_value, calc.unit


def old_module(rev: str) -> Any:
    """The calculator of ``rev``, loaded from git into a temporary module with its formulas."""
    source = subprocess.run(["git", "show", f"{rev}:src/finassist/finance/calculator.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout  # fmt: skip
    catalogue = subprocess.run(["git", "show", f"{rev}:src/finassist/finance/data/formulas.yaml"],
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout  # fmt: skip
    source = source.replace("@register\n", "")
    folder = Path(tempfile.mkdtemp())
    (folder / "old_calculator.py").write_text(source, "utf-8")
    spec = importlib.util.spec_from_file_location("old_calculator", folder / "old_calculator.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["old_calculator"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    parsed = yaml.safe_load(catalogue)["formulas"]
    module.formulas = lambda: parsed
    return module


def run_old(module: Any, problem: dict[str, Any]) -> tuple[Decimal, str] | None:
    try:
        calc = module.calculate(problem["question"], problem.get("context"))
    except Exception:
        return None
    m = re.match(r"(-?[\d,]+\.\d+)(.*)", calc.result_text)
    return (Decimal(m.group(1).replace(",", "")), m.group(2)) if m else None


FIN_EVA = Path("intent_fin_eva/金融逻辑/金融数值计算.csv")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def fin_eva_rows(shared: Path) -> list[dict[str, str]]:
    """The answered rows of Fin-Eva 金融数值计算; empty when the data is not there."""
    path = shared / FIN_EVA
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("answer", "").strip()]


def _number(text: str) -> float | None:
    m = _NUMBER.search(text.replace(",", ""))
    return float(m.group()) if m else None


def grade_choice(row: dict[str, str], result_text: str | None) -> str:
    """right / wrong / declined: the result's number against the gold option's."""
    if result_text is None:
        return "declined"
    gold, shown = _number(row[row["answer"].strip()]), _number(result_text)
    if gold is None or shown is None:
        return "wrong"
    tolerance = max(0.011, abs(gold) * 0.01)
    forms = [shown, shown / 100] if result_text.endswith("%") else [shown]
    return "right" if any(abs(x - gold) <= tolerance for x in forms) else "wrong"


def bench_fin_eva(shared: Path, old: Any) -> None:
    rows = fin_eva_rows(shared)
    if not rows:
        print(f"\n(no {FIN_EVA} under {shared}: the held-out table is skipped)")
        return

    def offline(row: dict[str, str]) -> str | None:
        try:
            return calculate(row["question"]).result_text
        except InvalidInput:
            return None

    def before(row: dict[str, str]) -> str | None:
        try:
            return str(old.calculate(row["question"]).result_text)
        except Exception:
            return None

    print(f"\n{len(rows)} answered rows of Fin-Eva {FIN_EVA.parent.name}/{FIN_EVA.stem} (seen in part)")
    print(f"{'mode':<10}{'right':>8}{'wrong':>8}{'declined':>10}{'right%':>9}{'wrong%':>9}")
    for mode, solve in (("old", before), ("offline", offline)):
        counts = Counter(grade_choice(r, solve(r)) for r in rows)
        n = len(rows)
        print(f"{mode:<10}{counts['right']:>8}{counts['wrong']:>8}{counts['declined']:>10}"
              f"{100 * counts['right'] / n:>8.1f}%{100 * counts['wrong'] / n:>8.1f}%")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-rev", default=OLD_REV, help="git revision of the old calculator")
    parser.add_argument("--show", choices=["offline", "scripted", "old"], help="list the misses")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    items = problems()
    old = old_module(args.old_rev)
    modes = {"old": lambda p: run_old(old, p), "offline": run_offline, "scripted": run_scripted}
    answerable = sum(1 for p in items if not p.get("decline"))
    print(f"{len(items)} problems ({answerable} answerable, {len(items) - answerable} should decline); "
          f"source: {PROBLEMS.relative_to(ROOT)}")  # fmt: skip
    print(f"{'mode':<10}{'right':>8}{'wrong':>8}{'declined':>10}{'right%':>9}{'wrong%':>9}")
    for mode, solve in modes.items():
        grades = {p["id"]: grade(p, solve(p)) for p in items}
        counts = Counter(grades.values())
        n = len(items)
        print(f"{mode:<10}{counts['right']:>8}{counts['wrong']:>8}{counts['declined']:>10}"
              f"{100 * counts['right'] / n:>8.1f}%{100 * counts['wrong'] / n:>8.1f}%")  # fmt: skip
        if args.show == mode:
            for p in items:
                if grades[p["id"]] != "right":
                    print(
                        f"  {grades[p['id']]:<9}{p['id']} {p['question']} -> {solve(p)}",
                        file=sys.stderr,
                    )
    bench_fin_eva(args.shared, old)


if __name__ == "__main__":
    main()
