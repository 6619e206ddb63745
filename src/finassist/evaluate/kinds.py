"""The built-in task kinds: multiple choice, classification, NER, retrieval, generation, judge,
groundedness. Each scores a :class:`Subject` on a :class:`TaskFile`; all metrics are 0–1."""

from __future__ import annotations

import re
from statistics import mean
from typing import Any

from finassist.evaluate import metrics
from finassist.evaluate.tasks import Subject, TaskFile, TaskFileError, TaskResult, register_task
from finassist.llm.types import Message
from finassist.nlp.llm_mode import LlmError

LETTERS = "ABCDEFGH"
_ANSWER = re.compile(r"答案\s*(?:是|为)?\s*[:：]?\s*([A-H](?:[,，、\s]*[A-H])*)")
_LETTER_RUN = re.compile(r"(?<![A-Za-z])([A-H](?:[,，、]?[A-H])*)(?![A-Za-z])")


def _avg(values: list[float]) -> float:
    return mean(values) if values else 0.0


def parse_choice(reply: str) -> str | None:
    """The option letters a reply picks (``"B"``, ``"AC"``); None if it names none."""
    found = _ANSWER.search(reply) or _LETTER_RUN.search(reply.strip())
    if not found:
        return None
    return "".join(sorted(set(re.sub(r"[^A-H]", "", found.group(1)))))


@register_task("multiple_choice")
class MultipleChoice:
    """OpenFinData / FinEval / CFLUE style: ``question``, options ``A``–``D``, ``answer``."""

    kind = "multiple_choice"
    required = ("question", "answer")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        items, golds, preds = [], [], []
        for record in task.records:
            options = record.get("options") or {k: record[k] for k in LETTERS if k in record}
            body = "\n".join(f"{k}. {v}" for k, v in options.items())
            prompt = (
                f"以下是金融领域的选择题，请选出正确答案，只输出选项字母。\n\n"
                f"{record['question']}\n{body}\n答案："
            )
            reply = subject.complete([Message.user(prompt)])
            pred = parse_choice(reply)
            gold = "".join(sorted(set(str(record["answer"]).upper()) & set(LETTERS)))
            golds.append(gold)
            preds.append(pred)
            items.append({"gold": gold, "pred": pred, "reply": reply[:500]})
        answered = sum(p is not None for p in preds) / len(preds)
        acc = metrics.accuracy(golds, preds)
        return TaskResult(
            task.name,
            self.kind,
            len(items),
            {"accuracy": acc, "answered": answered},
            "accuracy",
            items,
        )


@register_task("classification")
class Classification:
    """``text`` + ``label``; the header's ``label_set`` is ``intent`` or ``sentiment``."""

    kind = "classification"
    required = ("text", "label")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        from finassist.nlp import llm_mode
        from finassist.nlp.intent import IntentRouter
        from finassist.nlp.sentiment import LABELS, SentimentAnalyzer

        label_set = task.options.get("label_set")
        if label_set is None:
            label_set = "sentiment" if task.records[0]["label"] in LABELS else "intent"
        if label_set not in ("intent", "sentiment"):
            raise TaskFileError(f"{task.path}：label_set 只能是 intent 或 sentiment。")
        model = subject.backend  # None: the offline models
        if label_set == "intent":
            router = IntentRouter.default()
            names = {s.label: s.name for s in router.specs}

            def predict(text: str) -> str:
                if model is None:
                    return router.classify(text).name
                return llm_mode.llm_intent(text, router, model).name

            def norm(label: str) -> str:
                return names.get(label, label)
        else:
            analyzer = SentimentAnalyzer.default() if model is None else None

            def predict(text: str) -> str:
                if analyzer is not None:
                    return analyzer.analyze(text).label
                assert model is not None
                return llm_mode.llm_sentiment(text, model).label

            def norm(label: str) -> str:
                return label

        golds: list[str] = []
        preds: list[str | None] = []
        items = []
        for record in task.records:
            gold = norm(str(record["label"]))
            try:
                pred: str | None = predict(str(record["text"]))
            except LlmError:
                pred = None
            golds.append(gold)
            preds.append(pred)
            items.append({"text": record["text"], "gold": gold, "pred": pred})
        scores = {
            "accuracy": metrics.accuracy(golds, preds),
            "macro_f1": metrics.macro_f1(golds, preds),
        }
        return TaskResult(task.name, self.kind, len(items), scores, "macro_f1", items)


def _spans(entities: list[dict[str, Any]], text: str) -> list[metrics.Span]:
    out = []
    for e in entities:
        start = e.get("start")
        if start is None:
            start = text.find(str(e["text"]))
        end = e.get("end", start + len(str(e.get("text", ""))))
        out.append((int(start), int(end), str(e["type"])))
    return out


@register_task("ner")
class Ner:
    """``text`` + ``entities`` [{text, type, start?, end?}]; entity-level F1 on exact spans."""

    kind = "ner"
    required = ("text", "entities")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        from finassist.nlp import llm_mode
        from finassist.nlp.ner import EntityRecognizer

        model = subject.backend  # None: the offline recogniser
        recognizer = EntityRecognizer.default() if model is None else None
        golds, preds, items = [], [], []
        for record in task.records:
            text = str(record["text"])
            if recognizer is not None:
                found = recognizer.recognize(text)
            elif model is not None:
                try:
                    found = llm_mode.llm_entities(text, model)
                except LlmError:
                    found = []
            gold = _spans(record["entities"], text)
            pred = [(e.start, e.end, e.type) for e in found]
            golds.append(gold)
            preds.append(pred)
            items.append({"text": text, "gold": gold, "pred": pred})
        return TaskResult(
            task.name, self.kind, len(items), metrics.entity_prf(golds, preds), "f1", items
        )


@register_task("retrieval")
class Retrieval:
    """``query`` + ``relevant`` (gold chunk ids, or document ids); header ``k`` (default 5)."""

    kind = "retrieval"
    required = ("query", "relevant")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        if subject.kb is None:
            raise TaskFileError(
                f"{task.path}：检索评测需要知识库，请先用 finassist kb ingest 导入。"
            )
        k = int(task.options.get("k", 5))
        scores: dict[str, list[float]] = {f"recall@{k}": [], "mrr": [], f"ndcg@{k}": []}
        items = []
        for record in task.records:
            relevant = {str(r) for r in record["relevant"]}
            passages = subject.kb.search(str(record["query"]), top_k=max(k, 10)).passages
            # a gold id may name a chunk or a whole document
            ranked = [p.chunk_id if p.chunk_id in relevant else p.doc_id for p in passages]
            ranked = list(dict.fromkeys(ranked))
            scores[f"recall@{k}"].append(metrics.recall_at_k(ranked, relevant, k))
            scores["mrr"].append(metrics.mrr(ranked, relevant))
            scores[f"ndcg@{k}"].append(metrics.ndcg_at_k(ranked, relevant, k))
            items.append({"query": record["query"], "relevant": sorted(relevant), "ranked": ranked})
        result = {name: _avg(values) for name, values in scores.items()}
        return TaskResult(task.name, self.kind, len(items), result, f"ndcg@{k}", items)


@register_task("generation")
class Generation:
    """``question`` + ``reference``: ROUGE-L on jieba tokens, BLEU (sacrebleu ``zh``), and
    BERTScore (``bertscore_p``/``_r``/``_f1``) when the subject carries a scorer."""

    kind = "generation"
    required = ("question", "reference")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        cands, refs, items = [], [], []
        for record in task.records:
            text, _ = subject.answer(str(record["question"]))
            cands.append(text)
            refs.append(str(record["reference"]))
            items.append(
                {
                    "question": record["question"],
                    "candidate": text,
                    "rouge_l": metrics.rouge_l(text, refs[-1]),
                }
            )
        scores = {
            "rouge_l": _avg([i["rouge_l"] for i in items]),
            "bleu": metrics.corpus_bleu_zh(cands, refs),
        }
        if subject.bertscore is not None:
            # scored together: IDF weights, when asked for, come from this task's references
            for item, bs in zip(items, subject.bertscore.score(cands, refs), strict=True):
                item.update(bertscore_p=bs.p, bertscore_r=bs.r, bertscore_f1=bs.f1)
            for key in ("bertscore_p", "bertscore_r", "bertscore_f1"):
                scores[key] = _avg([i[key] for i in items])
        return TaskResult(task.name, self.kind, len(items), scores, "rouge_l", items)


JUDGE_SYSTEM = "你是严格公正的金融领域评审。只根据参考答案判断回答的正确性与完整性。"
_SCORE = re.compile(r"(?:评分|得分|分数)\s*[:：]?\s*(10|[1-9])|^\s*(10|[1-9])\s*(?:分)?\s*$", re.M)


def judge_prompt(question: str, reference: str, candidate: str, *, reference_first: bool) -> str:
    """The judge's prompt, with the reference shown before or after the candidate."""
    ref = f"【参考答案】\n{reference}"
    cand = f"【待评回答】\n{candidate}"
    first, second = (ref, cand) if reference_first else (cand, ref)
    return (
        f"【问题】\n{question}\n\n{first}\n\n{second}\n\n"
        "请对照参考答案给【待评回答】打 1 到 10 的整数分，只输出“评分：N”。"
    )


def parse_score(reply: str) -> int | None:
    """The 1–10 score in a judge's reply, or None."""
    found = _SCORE.search(reply)
    if not found:
        return None
    return int(found.group(1) or found.group(2))


@register_task("judge")
class Judge:
    """``question`` + ``reference`` (+ optional ``candidate``): a judge model scores 1–10 in both
    orders (reference first, then candidate first) and the mean cancels position bias."""

    kind = "judge"
    required = ("question", "reference")

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        if subject.judge is None:
            raise TaskFileError(
                f"{task.path}：评审任务需要评审模型，请用 --judge 指定已配置的模型。"
            )
        items, means, gaps = [], [], []
        for record in task.records:
            candidate = record.get("candidate")
            if candidate is None:
                candidate, _ = subject.answer(str(record["question"]))
            scores = []
            for reference_first in (True, False):
                prompt = judge_prompt(
                    str(record["question"]),
                    str(record["reference"]),
                    str(candidate),
                    reference_first=reference_first,
                )
                reply = subject.judge.chat([Message.system(JUDGE_SYSTEM), Message.user(prompt)])
                scores.append(parse_score(reply.content))
            valid = [s for s in scores if s is not None]
            score = _avg([float(s) for s in valid]) if valid else 1.0
            means.append(score)
            if len(valid) == 2:
                gaps.append(abs(valid[0] - valid[1]))
            items.append(
                {
                    "question": record["question"],
                    "candidate": candidate,
                    "scores": scores,
                    "score": score,
                }
            )
        result = {
            "score": (_avg(means) - 1) / 9,  # 1..10 -> 0..1
            "mean_1_10": _avg(means),
            "order_gap": _avg([float(g) for g in gaps]),
        }
        return TaskResult(task.name, self.kind, len(items), result, "score", items)


@register_task("groundedness")
class Groundedness:
    """``question`` (or a given ``answer`` + ``evidence``): the share of claims (figures, dates,
    invoice numbers) in the answers that the cited evidence supports (assistant's guard)."""

    kind = "groundedness"
    required = ("question",)

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        from finassist.assistant import guard
        from finassist.assistant.types import Evidence

        total = supported = 0
        items = []
        for record in task.records:
            if "answer" in record:
                text = str(record["answer"])
                evidence = [
                    Evidence(
                        str(e.get("id", i)),
                        str(e.get("kind", "doc")),
                        str(e.get("source", "")),
                        dict(e.get("data") or {}),
                        str(e.get("text", "")),
                    )
                    for i, e in enumerate(record.get("evidence") or [])
                ]
            else:
                text, evidence = subject.answer(str(record["question"]))
            n = len(guard.claims(text))
            bad = guard.check(text, evidence).unsupported if n else []
            ok = max(n - len(bad), 0)
            total += n
            supported += ok
            items.append(
                {
                    "question": record["question"],
                    "answer": text[:1000],
                    "claims": n,
                    "unsupported": bad,
                }
            )
        scores = {
            "grounded": supported / total if total else 1.0,
            "claims": float(total),
        }
        return TaskResult(task.name, self.kind, len(items), scores, "grounded", items)
