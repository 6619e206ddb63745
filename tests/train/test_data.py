"""Training data: the assistant-only loss mask of every template, the record formats the data
pipeline exports, truncation and drop counts, pre-training blocks, and the manifest hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

from tests.tiny_models import build_tokenizer  # noqa: E402
from tests.train.conftest import QA, SYSTEM, conversation, write_jsonl  # noqa: E402

from finassist.data.export import FORMATS  # noqa: E402
from finassist.data.records import Sample  # noqa: E402
from finassist.errors import ConfigError, InvalidInput, NotFound  # noqa: E402
from finassist.train.data import data_hash, encode_pt, encode_sft, render_conversation  # noqa: E402
from finassist.train.formats import read_conversations, sft_files, text_files  # noqa: E402
from finassist.train.templates import apply_template  # noqa: E402

MULTI = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QA[0][0]},
    {"role": "assistant", "content": QA[0][1]},
    {"role": "user", "content": QA[1][0]},
    {"role": "assistant", "content": QA[1][1]},
]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer with the tiny models' ChatML-like template (its own, for ``auto``)."""
    from tests.tiny_models import TEMPLATE

    path = tmp_path_factory.mktemp("tok")
    build_tokenizer(path, TEMPLATE, [t for pair in QA for t in pair] + [SYSTEM])
    return path


def _tokenizer(tok_dir: Path, template: str = "auto", extra: tuple[str, ...] = ()):
    tokenizer = transformers.AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    if extra:
        tokenizer.add_tokens(list(extra), special_tokens=True)
    apply_template(tokenizer, template)
    return tokenizer


def _trained_runs(tokenizer, ids: list[int], mask: list[int]) -> list[str]:
    """The decoded runs of consecutive trained tokens."""
    runs: list[list[int]] = []
    for i, (token, m) in enumerate(zip(ids, mask, strict=True)):
        if m:
            if i == 0 or not mask[i - 1]:
                runs.append([])
            runs[-1].append(token)
    return [tokenizer.decode(r) for r in runs]


@pytest.mark.parametrize(
    ("template", "extra", "expected"),
    [
        ("chatml", (), [QA[0][1] + "<|im_end|>", QA[1][1] + "<|im_end|>"]),
        ("qwen2.5", (), [QA[0][1] + "<|im_end|>", QA[1][1] + "<|im_end|>"]),
        (
            "llama3",
            ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            [QA[0][1] + "<|eot_id|>", QA[1][1] + "<|eot_id|>"],
        ),
        (
            "chatglm3",
            ("[gMASK]", "sop", "<|system|>", "<|user|>", "<|assistant|>"),
            ["\n" + QA[0][1] + "<|user|>", "\n" + QA[1][1] + "<|im_end|>"],
        ),
        (
            "baichuan2",
            ("<reserved_106>", "<reserved_107>"),
            [QA[0][1] + "<|im_end|>", QA[1][1] + "<|im_end|>"],
        ),
        # The model's own template writes "<|im_start|>assistant" as the generation prompt, so
        # the newline after it is the model's first token to write.
        ("auto", (), ["\n" + QA[0][1] + "<|im_end|>", "\n" + QA[1][1] + "<|im_end|>"]),
    ],
)
def test_only_assistant_tokens_and_their_end_token_are_trained(
    tok_dir: Path, template: str, extra: tuple[str, ...], expected: list[str]
) -> None:
    tokenizer = _tokenizer(tok_dir, template, extra)
    if template == "llama3":
        tokenizer.bos_token = "<|begin_of_text|>"
    ids, mask = render_conversation(tokenizer, MULTI)
    assert _trained_runs(tokenizer, ids, mask) == expected
    untrained = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    for m in MULTI:
        if m["role"] != "assistant":
            assert m["content"] in untrained
    # The sequence is the template's rendering (plus an eos where nothing closed the last answer).
    rendered = tokenizer.apply_chat_template(MULTI, tokenize=False)
    assert tokenizer.decode(ids).startswith(rendered)


def test_a_template_that_does_not_fit_the_model_is_refused(tok_dir: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    with pytest.raises(ConfigError, match=r"<\|eot_id\|>.*不在模型词表中"):
        apply_template(tokenizer, "llama3")
    tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="没有自带对话模板"):
        apply_template(tokenizer, "auto")


def test_pipeline_export_formats_read_back_as_the_same_conversation(tmp_path: Path) -> None:
    sample = Sample(
        id="s1",
        kind="chat",
        group="g1",
        messages=[
            {"role": "user", "content": QA[0][0]},
            {"role": "assistant", "content": QA[0][1]},
            {"role": "user", "content": QA[1][0]},
            {"role": "assistant", "content": QA[1][1]},
        ],
        system=SYSTEM,
    )
    expected = [{"role": "system", "content": SYSTEM}, *sample.messages]
    for name, fmt in FORMATS.items():
        path = write_jsonl(tmp_path / f"{name}.jsonl", [fmt.convert(sample)])
        [(where, messages)] = list(read_conversations(path))
        assert messages == expected, name
        assert where == f"{path}:1"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "不是合法的 JSON"),
        ('{"text": "只有正文"}', "无法识别的记录格式"),
        ('{"conversations": [{"from": "robot", "value": "x"}]}', "未知的角色"),
        ('{"messages": [{"role": "user", "content": "只有提问"}]}', "没有 assistant 回复"),
        ('{"messages": [{"role": "user"}]}', "role 和 content"),
    ],
)
def test_a_bad_record_stops_with_its_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "train.jsonl"
    good = json.dumps({"messages": conversation(0)}, ensure_ascii=False)
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=problem) as err:
        list(read_conversations(path))
    assert f"{path}:3" in str(err.value)


def test_gbk_and_bom_files_read_like_utf8(tmp_path: Path) -> None:
    """Files saved by Chinese Windows tools (GBK, or UTF-8 with a BOM) are read, not refused."""
    rows = [{"messages": conversation(i)} for i in range(len(QA))]
    utf8 = write_jsonl(tmp_path / "utf8.jsonl", rows)
    text = utf8.read_text(encoding="utf-8")
    gbk, bom = tmp_path / "gbk.jsonl", tmp_path / "bom.jsonl"
    gbk.write_bytes(text.encode("gbk"))
    bom.write_bytes(text.encode("utf-8-sig"))
    expected = [m for _, m in read_conversations(utf8)]
    assert [m for _, m in read_conversations(gbk)] == expected
    assert [m for _, m in read_conversations(bom)] == expected


def test_long_conversations_are_truncated_or_dropped_and_counted(
    tok_dir: Path, tmp_path: Path
) -> None:
    tokenizer = _tokenizer(tok_dir, "chatml")
    short = conversation(3)
    long_answer = [
        {"role": "user", "content": QA[1][0]},
        {"role": "assistant", "content": QA[1][1] * 6},
    ]
    long_question = [
        {"role": "user", "content": QA[0][0] * 20},
        {"role": "assistant", "content": "好"},
    ]
    path = write_jsonl(
        tmp_path / "t.jsonl", [{"messages": m} for m in (short, long_answer, long_question)]
    )
    limit = len(render_conversation(tokenizer, long_answer)[0]) // 2
    assert len(render_conversation(tokenizer, short)[0]) <= limit
    encoded = encode_sft(tokenizer, [path], limit)
    stats = encoded.stats
    assert (stats.records, stats.rows, stats.truncated, stats.dropped) == (3, 2, 2, 1)
    assert all(len(ids) <= limit for ids in encoded.input_ids)
    assert stats.trained_tokens == sum(map(sum, encoded.masks or []))
    with pytest.raises(InvalidInput, match="没有可用的对话"):
        encode_sft(
            tokenizer, [write_jsonl(tmp_path / "u.jsonl", [{"messages": long_question}])], limit
        )


def test_pretraining_text_becomes_full_blocks_with_eos_between_documents(
    tok_dir: Path, tmp_path: Path
) -> None:
    tokenizer = _tokenizer(tok_dir)
    docs = tmp_path / "kb"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# 保理\n\n" + QA[2][1] * 3, encoding="utf-8")
    (docs / "sub" / "b.txt").write_text(QA[0][1], encoding="gbk")
    write_jsonl(docs / "c.jsonl", [{"title": "t", "text": QA[4][1]}, {"title": "u", "text": " "}])
    (docs / "skip.csv").write_text("x", encoding="utf-8")
    files = text_files([str(docs)])
    assert [f.name for f in files] == ["a.md", "c.jsonl", "b.txt"]
    texts = ["# 保理\n\n" + QA[2][1] * 3, QA[4][1], QA[0][1]]
    stream = [t for text in texts for t in [*tokenizer(text)["input_ids"], tokenizer.eos_token_id]]

    packed = encode_pt(tokenizer, files, 16, "text", packing=True)
    assert [t for row in packed.input_ids for t in row] == stream
    assert all(len(row) == 16 for row in packed.input_ids[:-1])
    assert packed.masks is None and packed.stats.records == 3

    separate = encode_pt(tokenizer, files, 16, "text", packing=False)
    eos = tokenizer.eos_token_id
    assert all(eos not in row[:-1] for row in separate.input_ids)  # no row spans two documents
    assert sum(len(r) for r in separate.input_ids) == len(stream)

    write_jsonl(tmp_path / "bad.jsonl", [{"body": "x"}])
    with pytest.raises(InvalidInput, match=r"bad.jsonl:1: 缺少文本字段 text"):
        encode_pt(tokenizer, [tmp_path / "bad.jsonl"], 16, "text")


def test_an_export_folder_gives_its_train_and_val_splits(sft_export: Path, tmp_path: Path) -> None:
    train, val = sft_files([str(sft_export)])
    assert train == [sft_export / "openai" / "train.jsonl"]
    assert val == [sft_export / "openai" / "val.jsonl"]
    assert sft_files([str(sft_export)], split="val")[0] == val
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="不是 finassist data build 的导出目录"):
        sft_files([str(tmp_path / "plain")])
    with pytest.raises(NotFound, match="不存在"):
        sft_files([str(tmp_path / "missing")])


def test_data_hash_is_the_sha256_of_the_files_in_order(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{"messages": conversation(0)}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"messages": conversation(1)}])
    expected = hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    assert data_hash([a, b]) == expected
    assert data_hash([b, a]) != expected
