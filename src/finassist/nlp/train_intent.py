"""Train the intent classifier shipped in ``data/models/intent.npz`` (deterministic).

Data: the team's examples in ``data/intent_examples.yaml`` and, when ``--fin-eva`` points at it,
the answered rows of Fin-Eva 金融意图理解 (CC BY 4.0) labelled by ``data/fin_eva_intent_map.yaml``.
A stratified 20% is held out to measure and to pick the unsure threshold; the shipped model is
then refitted on everything.

    python -m finassist.nlp.train_intent --fin-eva ../shared/data/intent_fin_eva
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.intent import UNKNOWN, IntentRouter
from finassist.nlp.linear import LinearModel
from finassist.nlp.training import fit_linear, stratified_split

OUT = Path(__file__).parent / "data" / "models" / "intent.npz"
C = 50.0
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
DEFAULT_FIN_EVA = Path("../shared/data/intent_fin_eva")


def load_examples() -> list[tuple[str, str, str]]:
    """(text, intent, source) of the packaged examples."""
    text = resources.files("finassist.nlp").joinpath("data/intent_examples.yaml").read_text("utf-8")
    data = yaml.safe_load(text)["examples"]
    return [(str(t), str(intent), "team") for intent, rows in data.items() for t in rows]


def load_fin_eva(root: Path) -> list[tuple[str, str, str]]:
    """(text, intent, source) of the Fin-Eva rows our map labels; empty when ``root`` is absent."""
    mapping = yaml.safe_load(
        resources.files("finassist.nlp").joinpath("data/fin_eva_intent_map.yaml").read_text("utf-8")
    )
    path = root / "dev_jsonl" / mapping["source"]
    if not path.is_file():
        return []
    labels = {int(k): str(v) for k, v in mapping["labels"].items()}
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if int(row["id"]) in labels:
            rows.append((str(row["question"]), labels[int(row["id"])], "fin_eva"))
    return rows


def dataset(fin_eva: Path | None) -> list[tuple[str, str, str]]:
    """All labelled rows, team examples first."""
    return load_examples() + (load_fin_eva(fin_eva) if fin_eva else [])


def pick_threshold(
    model: LinearModel, router: IntentRouter, texts: list[str], gold: list[str]
) -> float:
    """The threshold with the best accuracy when answers below it count as ``unknown``."""
    probs = [model.predict_proba(router.features(t)) for t in texts]
    best, best_acc = THRESHOLDS[0], -1.0
    for threshold in THRESHOLDS:
        hits = 0
        for p, g in zip(probs, gold, strict=True):
            k = int(np.argmax(p))
            pred = model.classes[k] if p[k] >= threshold else UNKNOWN
            hits += pred == g
        if hits / len(gold) > best_acc:
            best, best_acc = threshold, hits / len(gold)
    return best


def train(rows: list[tuple[str, str, str]], router: IntentRouter, **meta: object) -> LinearModel:
    """Fit on ``rows`` with the router's features (keyword rules + gazetteer + n-grams)."""
    return fit_linear(
        [r[0] for r in rows], [r[1] for r in rows], router.features, c=C, meta=dict(meta)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fin-eva", type=Path, default=DEFAULT_FIN_EVA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    router = IntentRouter.rules_only()
    router.gazetteer = Gazetteer.default()
    rows = dataset(args.fin_eva)
    if not any(r[2] == "fin_eva" for r in rows):
        print(f"未找到 Fin-Eva 数据（{args.fin_eva}），只用团队编写的样例训练。")
    train_idx, test_idx = stratified_split([r[1] for r in rows])
    held_model = train([rows[i] for i in train_idx], router)
    test = [rows[i] for i in test_idx]
    threshold = pick_threshold(held_model, router, [r[0] for r in test], [r[1] for r in test])
    sources = sorted({r[2] for r in rows})
    model = train(rows, router, threshold=threshold, examples=len(rows), sources=sources)
    model.save(args.out)
    print(
        f"已写入 {args.out}：{len(rows)} 条样例，{len(model.classes)} 类，"
        f"温度 {model.temperature}，阈值 {threshold}"
    )


if __name__ == "__main__":
    main()
