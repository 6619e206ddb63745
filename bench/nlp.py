"""Intent, sentiment and NER on the development sets, beside simple baselines, in one run.

    python bench/nlp.py [--shared ../shared/data]

Intent: the team's examples + Fin-Eva 金融意图理解 (mapped), stratified 80/20 split; every model is
fitted on the same 80% here. Sentiment: FinFE + CFSC-ABSA (sentences whose entities agree),
20% held out by sentence; target level on CFSC-ABSA entities. NER: CFSC-NER validation split
(our types mapped onto Corporate / Stock / Market / Economy; exact spans). Baselines: majority
class, and a plain TF-IDF (char 1-3) logistic regression; for NER a plain stock-name list.
Throughput is texts per second on one CPU thread, features included.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.intent import UNKNOWN, IntentRouter
from finassist.nlp.ner import EntityRecognizer
from finassist.nlp.sentiment import target_features
from finassist.nlp.train_intent import dataset, train
from finassist.nlp.train_sentiment import load, train_sentence, train_target
from finassist.nlp.training import stratified_split

CFSC = {"stock": "Stock", "index": "Stock", "market": "Stock", "company": "Corporate",
        "fund_company": "Corporate", "industry": "Market", "commodity": "Market",
        "region": "Economy", "macro": "Economy"}  # fmt: skip


def row(name: str, gold: Sequence[str], pred: Sequence[str], seconds: float | None = None) -> str:
    """One line: accuracy, macro-F1 and (for a whole set) texts per second."""
    acc = accuracy_score(gold, pred)
    f1 = f1_score(gold, pred, average="macro", zero_division=0)
    speed = f"{len(gold) / seconds:>9,.0f} texts/s" if seconds else ""
    return f"  {name:<34} acc {acc:6.1%}  macro-F1 {f1:6.1%}  {speed}"


def timed(fn: Callable[[str], str], texts: Sequence[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = [fn(t) for t in texts]
    return out, time.perf_counter() - start


def tfidf(train_x: Sequence[str], train_y: Sequence[str]) -> Callable[[str], str]:
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    clf = LogisticRegression(C=10.0, max_iter=3000).fit(vec.fit_transform(train_x), train_y)
    return lambda t: str(clf.predict(vec.transform([t]))[0])


def majority(train_y: Sequence[str]) -> Callable[[str], str]:
    top = Counter(train_y).most_common(1)[0][0]
    return lambda _t: top


def bench_intent(shared: Path) -> None:
    rows = dataset(shared / "intent_fin_eva")
    train_idx, test_idx = stratified_split([r[1] for r in rows])
    tr = [rows[i] for i in train_idx]
    te = [rows[i] for i in test_idx]
    n_fe = sum(r[2] == "fin_eva" for r in te)
    print(
        f"\n意图 intent：训练 {len(tr)} 条，留出 {len(te)} 条（其中 Fin-Eva {n_fe} 条），{len(set(r[1] for r in rows))} 类（含 unknown）"
    )
    features = IntentRouter.rules_only()
    features.gazetteer = Gazetteer.default()
    model = train(tr, features)
    ours = IntentRouter(features.specs, groups=features.groups, model=model,
                        gazetteer=features.gazetteer, threshold=0.3)  # fmt: skip
    systems = {
        "majority class": majority([r[1] for r in tr]),
        "TF-IDF char 1-3 + LogReg": tfidf([r[0] for r in tr], [r[1] for r in tr]),
        "finassist (gazetteer+rules+LR)": lambda t: ours.classify(t).name,
    }
    gold = [r[1] for r in te]
    for name, fn in systems.items():
        pred, secs = timed(fn, [r[0] for r in te])
        print(row(name, gold, pred, secs))
        fe = [i for i, r in enumerate(te) if r[2] == "fin_eva"]
        if fe:
            print(
                row("    └ Fin-Eva rows only", [gold[i] for i in fe], [pred[i] for i in fe], secs)
            )
    unsure = sum(ours.classify(r[0]).name == UNKNOWN for r in te if r[1] != UNKNOWN)
    print(f"  finassist 在非 unknown 留出样例上答“未识别”的：{unsure} 条")


def bench_sentiment(shared: Path) -> None:
    data = load(shared)
    gaz = Gazetteer.default()
    tr = [(t, y) for t, y, _, held in data.sentences if not held]
    te = [(t, y, src) for t, y, src, held in data.sentences if held]
    print(f"\n情感 sentiment（句子级）：训练 {len(tr)} 条，留出 {len(te)} 条")
    model = train_sentence(tr, gaz, calibrate=False)
    from finassist.nlp.sentiment import SentimentAnalyzer

    ours = SentimentAnalyzer(model, gaz)
    systems = {
        "majority class": majority([y for _, y in tr]),
        "TF-IDF char 1-3 + LogReg": tfidf([t for t, _ in tr], [y for _, y in tr]),
        "finassist (masked n-gram LR)": lambda t: ours.analyze(t).label,
    }
    for name, fn in systems.items():
        pred, secs = timed(fn, [t for t, _, _ in te])
        print(row(name, [y for _, y, _ in te], pred, secs))
        for source in ("finfe", "cfsc_absa"):
            idx = [i for i, r in enumerate(te) if r[2] == source]
            print(row(f"    └ {source}", [te[i][1] for i in idx], [pred[i] for i in idx]))

    ttr = [t for t, held in data.targets if not held]
    tte = [t for t, held in data.targets if held]
    print(f"\n情感 sentiment（目标级，CFSC-ABSA）：训练 {len(ttr)} 个实体，留出 {len(tte)} 个")
    tmodel = train_target(ttr, gaz, calibrate=False)
    sentence_tfidf = tfidf([t.text for t in ttr], [t.label for t in ttr])
    gold = [t.label for t in tte]
    for name, fn in {
        "majority class": lambda t: majority([x.label for x in ttr])(t.text),
        "TF-IDF on the sentence + LogReg": lambda t: sentence_tfidf(t.text),
        "finassist (target window LR)": lambda t: tmodel.classes[
            int(np.argmax(tmodel.predict_proba(target_features(t.text, t.start, t.end, gaz))))
        ],
    }.items():
        start = time.perf_counter()
        pred = [fn(t) for t in tte]
        print(row(name, gold, pred, time.perf_counter() - start))


def prf(gold: set[tuple[int, int, int, str]], pred: set[tuple[int, int, int, str]]) -> str:
    hit = len(gold & pred)
    p = hit / len(pred) if pred else 0.0
    r = hit / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"P {p:6.1%}  R {r:6.1%}  F1 {f:6.1%}"


def bench_ner(shared: Path) -> None:
    data = json.loads((shared / "ner_cfsc" / "val.json").read_text("utf-8"))
    print(f"\n实体 NER（CFSC-NER 验证集 {len(data)} 句，精确边界）")
    gold = {
        (i, lab["from"], lab["to"], lab["Level 1 Aspect"])
        for i, r in enumerate(data)
        for lab in r["labels"]
    }
    untyped_gold = {(i, s, e, "") for i, s, e, _ in gold}
    gaz = Gazetteer.default()
    stock_names = {k for k, v in gaz.entries.items() if v.kind == "stock" and k == v.canonical}

    def baseline(text: str) -> list[tuple[int, int, str]]:
        out = []
        for name in stock_names:
            start = text.find(name)
            while start >= 0:
                out.append((start, start + len(name), "Stock"))
                start = text.find(name, start + 1)
        return out

    ner = EntityRecognizer.default()

    def ours(text: str) -> list[tuple[int, int, str]]:
        return [(e.start, e.end, CFSC[e.type]) for e in ner.recognize(text) if e.type in CFSC]

    for name, fn in {
        "stock-name list only": baseline,
        "finassist (gazetteers+rules)": ours,
    }.items():
        start = time.perf_counter()
        pred = {(i, s, e, t) for i, r in enumerate(data) for s, e, t in fn(r["text"])}
        secs = time.perf_counter() - start
        print(f"  {name:<34} typed   {prf(gold, pred)}  {len(data) / secs:>9,.0f} texts/s")
        print(f"  {'':<34} untyped {prf(untyped_gold, {(i, s, e, '') for i, s, e, _ in pred})}")
        for kind in ("Corporate", "Stock", "Market", "Economy"):
            print(
                f"    └ {kind:<30} {prf({g for g in gold if g[3] == kind}, {p for p in pred if p[3] == kind})}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(__file__).resolve().parents[1].parent / "shared" / "data",
    )
    parser.add_argument("--only", choices=("intent", "sentiment", "ner"))
    args = parser.parse_args()
    if not args.shared.is_dir():
        raise SystemExit(f"找不到开发数据目录 {args.shared}：请用 --shared 指定。")
    for task, fn in (("intent", bench_intent), ("sentiment", bench_sentiment), ("ner", bench_ner)):
        if args.only in (None, task):
            fn(args.shared)


if __name__ == "__main__":
    main()
