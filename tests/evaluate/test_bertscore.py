"""BERTScore on a tiny BERT built here (random weights, a character vocabulary written on the
spot), checked against greedy matching written out with plain Python loops."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.cli_helpers import run_cli  # noqa: E402

from finassist.errors import InvalidInput  # noqa: E402
from finassist.evaluate import Subject, load_task_file, run_tasks  # noqa: E402
from finassist.evaluate.bertscore import BertScorer, TokenEmbeddings  # noqa: E402
from finassist.llm.scripted import ScriptedBackend  # noqa: E402
from finassist.llm.types import MissingExtra, ModelNotFound  # noqa: E402

from .conftest import EVAL_DATA  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_POSITIONS = 64
REFERENCE = "保理商受让供应商的应收账款并提供融资"
PAIRS = [
    ("保理商受让应收账款", REFERENCE),
    ("今天天气很好", REFERENCE),
    ("流动比率等于流动资产除以流动负债", "流动比率是流动资产与流动负债之比"),
    ("票据贴现利息", "贴现利息等于票面金额乘以贴现率"),
]
LONG = "应收账款质押应当在中国人民银行征信中心动产融资统一登记公示系统办理质押登记" * 2


def _corpus() -> str:
    texts = [t for pair in PAIRS for t in pair] + [LONG]
    for line in (EVAL_DATA / "generation.jsonl").read_text("utf-8").splitlines()[1:]:
        texts.append(json.loads(line)["reference"])
    return "".join(texts)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT (hidden 32) with one token per Chinese character, saved like a download."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted({c for c in _corpus() if not c.isspace()})
    vocab = {token: i for i, token in enumerate([*SPECIALS, *chars])}
    tokenizer = transformers.BertTokenizer(vocab=vocab)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        initializer_range=0.2,  # at BERT's 0.02 the random layers barely change the vectors
    )
    transformers.BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def scorer(tiny_bert: Path) -> BertScorer:
    scorer = BertScorer(tiny_bert)
    scorer.warm_up()
    return scorer


def brute_force(
    cand: TokenEmbeddings,
    ref: TokenEmbeddings,
    idf: dict[int, float] | None = None,
    unseen: float = 0.0,
) -> tuple[float, float, float]:
    """Greedy matching as the paper writes it, one token at a time."""
    if not cand.ids or not ref.ids:
        return 0.0, 0.0, 0.0
    cv, rv = cand.vectors.tolist(), ref.vectors.tolist()

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    def weights(ids: list[int]) -> list[float]:
        if idf is None:
            return [1.0] * len(ids)
        w = [idf.get(i, unseen) for i in ids]
        return w if sum(w) > 0 else [1.0] * len(ids)

    wc, wr = weights(cand.ids), weights(ref.ids)
    p = sum(w * max(cos(c, r) for r in rv) for w, c in zip(wc, cv, strict=True)) / sum(wc)
    r = sum(w * max(cos(c, x) for x in cv) for w, c in zip(wr, rv, strict=True)) / sum(wr)
    return p, r, 2 * p * r / (p + r)


def test_identical_texts_score_one(scorer: BertScorer) -> None:
    texts = [PAIRS[0][0], REFERENCE, LONG]
    for s in scorer.score(texts, texts):
        assert s.p == pytest.approx(1.0, abs=1e-5)
        assert s.r == pytest.approx(1.0, abs=1e-5)
        assert s.f1 == pytest.approx(1.0, abs=1e-5)


def test_embeddings_are_content_tokens_normalised(scorer: BertScorer) -> None:
    [emb] = scorer.embed(["保理商"])
    assert len(emb.ids) == 3  # one per character, no [CLS] / [SEP]
    assert torch.allclose(emb.vectors.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_equals_brute_force_greedy_matching(scorer: BertScorer) -> None:
    cands, refs = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    embedded = scorer.embed(cands + refs)
    for s, c, r in zip(scorer.score(cands, refs), embedded[:4], embedded[4:], strict=True):
        assert (s.p, s.r, s.f1) == pytest.approx(brute_force(c, r), abs=1e-5)


def test_idf_weighting_equals_brute_force(tiny_bert: Path) -> None:
    idf_scorer = BertScorer(tiny_bert, idf=True)
    cands, refs = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    embedded = idf_scorer.embed(cands + refs)
    # document frequency over the references, counted by hand
    m = len(refs)
    df: dict[int, int] = {}
    for emb in embedded[4:]:
        for token in set(emb.ids):
            df[token] = df.get(token, 0) + 1
    idf = {t: math.log((m + 1) / (n + 1)) for t, n in df.items()}
    plain = BertScorer(tiny_bert).score(cands, refs)
    weighted = idf_scorer.score(cands, refs)
    for s, c, r in zip(weighted, embedded[:4], embedded[4:], strict=True):
        assert (s.p, s.r, s.f1) == pytest.approx(brute_force(c, r, idf, math.log(m + 1)), abs=1e-5)
    assert [s.f1 for s in weighted] != pytest.approx([s.f1 for s in plain], abs=1e-4)


def test_shared_tokens_score_higher_than_unrelated(scorer: BertScorer) -> None:
    close, far = scorer.score([PAIRS[0][0], PAIRS[1][0]], [REFERENCE, REFERENCE])
    assert close.f1 > far.f1
    assert close.p > far.p and close.r > far.r


def test_batch_size_and_padding_do_not_change_scores(tiny_bert: Path) -> None:
    cand, ref = PAIRS[2]
    alone = BertScorer(tiny_bert, batch_size=1).score([cand], [ref])[0]
    batched = BertScorer(tiny_bert, batch_size=8).score([cand, LONG], [ref, LONG[::-1]])[0]
    assert (batched.p, batched.r, batched.f1) == pytest.approx(
        (alone.p, alone.r, alone.f1), abs=1e-5
    )


def test_empty_side_scores_zero(scorer: BertScorer) -> None:
    for s in scorer.score(["", "  ", "保理"], [REFERENCE, REFERENCE, ""]):
        assert (s.p, s.r, s.f1) == (0.0, 0.0, 0.0)
    assert scorer.score([], []) == []


def test_long_texts_are_truncated_to_the_model(scorer: BertScorer) -> None:
    text = LONG * 3  # far beyond the 64 positions of the tiny model
    [emb] = scorer.embed([text])
    assert len(emb.ids) == MAX_POSITIONS - 2  # [CLS] and [SEP] take two
    assert scorer.score([text], [text])[0].f1 == pytest.approx(1.0, abs=1e-5)


def test_layer_option(tiny_bert: Path, scorer: BertScorer) -> None:
    cands, refs = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    last = [s.f1 for s in scorer.score(cands, refs)]
    assert [s.f1 for s in BertScorer(tiny_bert, layer=2).score(cands, refs)] == pytest.approx(
        last, abs=1e-6
    )
    # layer 0 is the embedding output: the same characters, other vectors than the last layer
    [first] = BertScorer(tiny_bert, layer=0).embed([REFERENCE])
    [final] = scorer.embed([REFERENCE])
    assert first.ids == final.ids
    assert (first.vectors - final.vectors).abs().max() > 0.05
    with pytest.raises(InvalidInput, match=r"层号 3 超出范围.*共 2 层"):
        BertScorer(tiny_bert, layer=3).warm_up()


def test_missing_or_incomplete_model_dir_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "bert-base-chinese"
    with pytest.raises(ModelNotFound, match="不存在") as info:
        BertScorer(missing).warm_up()
    assert str(missing) in str(info.value) and "不会下载" in str(info.value)
    missing.mkdir()
    (missing / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound) as info:
        BertScorer(missing).warm_up()
    message = str(info.value)
    assert str(missing) in message and "缺少：分词器文件" in message and "模型权重" in message
    assert "缺少：config.json" not in message  # it is there


def test_missing_transformers_names_the_extra(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'finassist\[train\]'"):
        BertScorer(tiny_bert).warm_up()


def test_generation_task_gains_bertscore(scorer: BertScorer) -> None:
    refs = {
        "什么是保理？": "保理是卖方将应收账款转让给保理商，由保理商提供融资、催收和坏账担保等服务。",
        "流动比率怎么计算？": "流动比率等于流动资产除以流动负债。",
    }
    perfect = ScriptedBackend()
    perfect.enqueue(*[lambda m: refs[m[-1].content]] * 2)
    task = load_task_file(EVAL_DATA / "generation.jsonl")
    result = run_tasks([task], Subject("fake", perfect, bertscore=scorer))[0]
    assert result.metrics["bertscore_f1"] == pytest.approx(1.0, abs=1e-5)
    assert result.primary == "rouge_l"
    assert all(item["bertscore_f1"] == pytest.approx(1.0, abs=1e-5) for item in result.items)

    offline = run_tasks([task], Subject(bertscore=scorer))[0]
    expected = scorer.score([i["candidate"] for i in offline.items], list(refs.values()))
    assert [i["bertscore_f1"] for i in offline.items] == pytest.approx([s.f1 for s in expected])
    assert offline.metrics["bertscore_p"] == pytest.approx(sum(s.p for s in expected) / 2)
    assert "bertscore_f1" not in run_tasks([task], Subject())[0].metrics  # unchanged without


def test_cli_stores_bertscore(tiny_bert: Path, tmp_path: Path) -> None:
    task = str(EVAL_DATA / "generation.jsonl")
    result = run_cli(
        tmp_path, "eval", "run", task, "--model", "offline", "--bertscore-model", str(tiny_bert)
    )
    assert result.returncode == 0, result.stderr
    assert "bertscore_f1=" in result.stdout and str(tiny_bert.name) in result.stdout
    [summary] = (tmp_path / "eval" / "runs").glob("*/run.json")
    metrics = json.loads(summary.read_text("utf-8"))["tasks"]["gen_demo"]["metrics"]
    assert 0.0 < metrics["bertscore_f1"] <= 1.0
    details = json.loads((summary.parent / "01-gen_demo.json").read_text("utf-8"))
    assert all("bertscore_f1" in item for item in details["items"])
    assert str(tiny_bert) in json.loads(summary.read_text("utf-8"))["notes"]["bertscore"]

    plain = run_cli(tmp_path, "eval", "run", task, "--model", "offline")
    assert plain.returncode == 0, plain.stderr
    ids = [line.split("：")[1].strip() for line in (result.stdout + plain.stdout).splitlines() if line.startswith("评测编号：")]  # fmt: skip
    compared = run_cli(tmp_path, "eval", "compare", *ids)
    assert compared.returncode == 0, compared.stderr
    assert "两次评测的 bertscore 不同" in compared.stdout  # scored one way, then another

    missing = tmp_path / "no-such-model"
    bad = run_cli(tmp_path, "eval", "run", task, "--bertscore-model", str(missing))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"BERTScore 模型目录 {missing} 不存在" in bad.stderr
    alone = run_cli(tmp_path, "eval", "run", task, "--bertscore-layer", "1")
    assert alone.returncode == 1 and "需与 --bertscore-model 一起使用" in alone.stderr
