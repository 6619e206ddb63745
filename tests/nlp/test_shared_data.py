"""Measured on the public development data beside the clone (skipped when it is absent)."""

from __future__ import annotations

import json

from finassist.nlp.intent import IntentRouter
from finassist.nlp.ner import EntityRecognizer
from finassist.nlp.train_intent import load_fin_eva

CFSC_TYPES = {"stock": "Stock", "index": "Stock", "company": "Corporate", "industry": "Market",
              "commodity": "Market", "region": "Economy", "macro": "Economy"}  # fmt: skip


def test_fin_eva_rows_map_onto_the_taxonomy(shared_data) -> None:
    rows = load_fin_eva(shared_data / "intent_fin_eva")
    router = IntentRouter.default()
    assert len(rows) == 71
    assert {label for _, label, _ in rows} <= set(router.by_name)


def test_ner_finds_most_cfsc_stocks_and_indices(shared_data) -> None:
    data = json.loads((shared_data / "ner_cfsc" / "val.json").read_text("utf-8"))[:300]
    ner = EntityRecognizer.default()
    gold = found = hit = 0
    for row in data:
        wanted = {
            (lab["from"], lab["to"]) for lab in row["labels"] if lab["Level 1 Aspect"] == "Stock"
        }
        got = {
            (e.start, e.end)
            for e in ner.recognize(row["text"])
            if CFSC_TYPES.get(e.type) == "Stock"
        }
        gold, found, hit = gold + len(wanted), found + len(got), hit + len(wanted & got)
    recall = hit / gold
    assert recall >= 0.4, f"Stock recall {recall:.2f}"


def test_sentiment_model_beats_chance_on_finfe(shared_data) -> None:
    from finassist.nlp.sentiment import SentimentAnalyzer

    lines = (
        (shared_data / "sentiment_finfe" / "finfe_dev.jsonl").read_text("utf-8").splitlines()[:300]
    )
    rows = [json.loads(line) for line in lines]
    analyzer = SentimentAnalyzer.default()
    accuracy = sum(analyzer.analyze(r["text"]).label == r["label"] for r in rows) / len(rows)
    assert accuracy >= 0.6
