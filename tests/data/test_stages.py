"""The pure stages: filter, clean, merge, PII, sessions, samples, weighting, split, mix, augment."""

from __future__ import annotations

from finassist.data.augment import augment, load_synonyms, replace_synonyms
from finassist.data.clean import (
    CleanOptions,
    FilterOptions,
    clean_messages,
    clean_text,
    filter_messages,
    load_block_words,
)
from finassist.data.mix import (
    MixOptions,
    SplitOptions,
    WeightOptions,
    assign_split,
    weight_by_position,
)
from finassist.data.records import Message, Sample, StageStats
from finassist.data.sessions import (
    SampleOptions,
    build_samples,
    mask_messages,
    merge_consecutive,
    sessionise,
)
from finassist.nlp.pii import PiiMasker

DAY = 1_735_700_000.0


def msg(text: str, role: str = "user", t: float = 0, conv: str = "c1", **kw: object) -> Message:
    return Message(conversation=conv, role=role, text=text, time=DAY + t, **kw)  # type: ignore[arg-type]


def stats() -> StageStats:
    return StageStats("x", "x")


def test_filter_drops_noise_and_says_why() -> None:
    messages = [
        msg("[图片]", type="图片"),
        msg('"王经理" 撤回了一条消息', type="系统通知"),
        msg("你已添加了张三", type="系统通知"),
        msg("通知全文", forwarded=True),
        msg("[动画表情]"),
        msg("能帮忙代开发票吗"),
        msg("账期多少天？"),
    ]
    st = stats()
    kept = list(filter_messages(messages, FilterOptions(block_words=load_block_words()), st))
    assert [m.text for m in kept] == ["账期多少天？"]
    assert st.dropped == {
        "类型不在允许范围：图片": 1,
        "撤回消息": 1,
        "系统消息": 1,
        "转发消息": 1,
        "非文本占位符": 1,
        "含屏蔽词": 1,
    }


def test_clean_normalises_text_and_applies_url_and_emoji_policy() -> None:
    options = CleanOptions()
    assert clean_text(
        "  您好[微笑]  看这个 https://a.cn/x?y=1 ，１２３  👍\r\n\r\n谢谢\u200b", options
    ) == ("您好 看这个 [链接] ，123\n谢谢")
    assert (
        clean_text("见 www.x.com 吧", CleanOptions(url_policy="remove", emoji_policy="keep"))
        == "见 吧"
    )
    st = stats()
    assert list(clean_messages([msg("[微笑]")], options, st)) == []
    assert st.dropped == {"清洗后为空": 1}


def test_merge_joins_bursts_of_one_sender_within_the_gap() -> None:
    messages = [
        msg("在吗", t=0),
        msg("王经理", t=5),
        msg("麻烦看下", t=9),
        msg("在的", "assistant", t=20),
        msg("好", t=500),
    ]
    merged = list(merge_consecutive(messages, 60, stats()))
    assert [m.text for m in merged] == ["在吗\n王经理\n麻烦看下", "在的", "好"]


def test_merge_and_sessions_keep_conversations_apart_when_interleaved() -> None:
    messages = [msg("a1", t=0, conv="a"), msg("b1", t=1, conv="b"), msg("a2", t=2, conv="a")]
    merged = list(merge_consecutive(messages, 60, stats()))
    assert sorted(m.text for m in merged) == ["a1\na2", "b1"]


def test_pii_stage_masks_and_counts_by_type() -> None:
    st = stats()
    out = list(mask_messages([msg("王经理电话13812345678")], PiiMasker(), st))
    assert out[0].text == "[姓名]经理电话[手机号]"
    assert st.dropped == {"姓名": 1, "手机号": 1}


def test_sessions_by_gap_and_by_day() -> None:
    messages = [
        msg("q1", t=0),
        msg("a1", "assistant", t=10),
        msg("q2", t=4000),
        msg("a2", "assistant", t=4010),
    ]
    assert [len(s.turns) for s in sessionise(messages, "gap", 1800, stats())] == [2, 2]
    assert [len(s.turns) for s in sessionise(messages, "day", 1800, stats())] == [4]


def test_sessions_are_closed_when_too_many_are_open() -> None:
    messages = [msg(f"q{i}", t=i, conv=f"c{i}") for i in range(5)]
    sessions = list(sessionise(messages, "gap", 1800, stats(), max_open=2))
    assert [s.conversation for s in sessions] == ["c0", "c1", "c2", "c3", "c4"]


def test_samples_walk_back_within_the_budget_and_start_with_the_user() -> None:
    turns = [
        msg("您好", t=0),
        msg("在的", "assistant", t=1),
        msg("账期" * 20, t=2),
        msg("90天", "assistant", t=3),
    ]
    session = next(sessionise(turns, "gap", 1800, stats()))
    st = stats()
    samples = list(
        build_samples([session], SampleOptions(max_tokens=50, system_prompt="你是客服"), st)
    )
    assert [s.messages[0]["content"] for s in samples] == ["您好", "账期" * 20]
    assert samples[1].messages[-1] == {"role": "assistant", "content": "90天"}
    assert (samples[1].position, samples[1].turns, samples[1].system) == (1, 2, "你是客服")
    big = list(build_samples([session], SampleOptions(max_tokens=30), st))
    assert [s.reply for s in big] == ["在的"]
    assert st.dropped == {"前文超出长度预算": 1}


def sample(sid: str, reply: str, position: int = 0, turns: int = 3, group: str = "g") -> Sample:
    messages = [{"role": "user", "content": "问"}, {"role": "assistant", "content": reply}]
    return Sample(sid, "chat", group, messages, position=position, turns=turns)


def test_greetings_at_the_edges_are_down_weighted_by_sampling() -> None:
    samples = [sample(f"s{i}", "您好，我在的，请讲。", position=0) for i in range(400)]
    samples += [sample(f"m{i}", "您好，我在的，请讲。", position=1) for i in range(100)]
    samples += [sample(f"e{i}", "放款预计明天到账", position=2) for i in range(100)]
    st = stats()
    kept = list(weight_by_position(samples, WeightOptions(low_weight=0.25), 7, st))
    openings = [s for s in kept if s.id.startswith("s")]
    assert 60 < len(openings) < 140 and all(s.weight == 0.25 for s in openings)
    assert sum(s.id[0] in "me" for s in kept) == 200
    again = list(weight_by_position(samples, WeightOptions(low_weight=0.25), 7, stats()))
    assert [s.id for s in again] == [s.id for s in kept]


def test_split_is_grouped_deterministic_and_about_8_1_1() -> None:
    options = SplitOptions()
    groups = [f"wxid_{i}" for i in range(3000)]
    splits = [assign_split(g, 42, options) for g in groups]
    assert splits == [assign_split(g, 42, options) for g in groups]
    assert 2250 < splits.count("train") < 2550 and 200 < splits.count("val") < 400
    assert splits != [assign_split(g, 43, options) for g in groups]


def test_mix_targets_follow_the_ratios() -> None:
    assert MixOptions().targets(600) == (350, 50)
    assert MixOptions(chat=0.5, knowledge=0.5, structured=0).targets(10) == (10, 0)


def test_synonym_augmentation_adds_marked_copies() -> None:
    groups = load_synonyms()
    assert replace_synonyms("账期是多少", groups, 1, "k") in {"付款周期是多少", "结算周期是多少"}
    samples = [sample("a", "账期90天，可以提前回款"), sample("b", "好的")]
    st = stats()
    out = list(
        augment(
            samples,
            groups=groups,
            synonym_ratio=1.0,
            backend=None,
            paraphrase_ratio=0,
            seed=1,
            stats=st,
        )
    )
    assert [s.id for s in out] == ["a", "a-syn", "b"]
    assert out[1].meta == {"augmented": "synonym", "source_id": "a"} and out[1].group == "g"
    assert "账期" not in out[1].reply and "提前回款" not in out[1].reply


def test_knowledge_passages_come_from_every_format_the_knowledge_base_reads(tmp_path) -> None:
    import docx

    from finassist.data.readers import ReadReport
    from finassist.data.sources import read_passages

    para = "保理是应收账款转让融资，保理人向债权人提供资金融通、应收账款管理或者催收服务。"
    (tmp_path / "a.html").write_text(
        f"<html><head><title>保理指引</title></head><body><nav>首页 登录</nav>"
        f"<h2>定义</h2><p>{para}</p></body></html>",
        encoding="utf-8",
    )
    d = docx.Document()
    d.add_heading("反向保理", level=1)
    d.add_paragraph("反向保理由核心企业发起，基于其对供应商的应付账款确认提供融资服务。")
    d.save(tmp_path / "b.docx")
    (tmp_path / "c.txt").write_bytes(f"{para}\n".encode("gbk"))  # GBK, as Windows tools save
    (tmp_path / "d.jsonl").write_text('{"title": "一", "text": "好的一行"}\n{oops', "utf-8")
    report = ReadReport()
    passages = list(read_passages([tmp_path], report, max_chars=600))
    by_doc = {p.doc: p for p in passages}
    assert set(by_doc) == {"a", "b", "c"}
    assert by_doc["a"].title == "定义" and "首页" not in by_doc["a"].text  # navigation skipped
    assert by_doc["b"].title == "反向保理" and "核心企业" in by_doc["b"].text
    assert by_doc["c"].text == para
    [bad] = report.bad
    assert bad.source.endswith("d.jsonl") and "第 2 行" in bad.reason


def test_a_long_knowledge_document_is_cut_into_passages_of_at_most_max_chars(tmp_path) -> None:
    from finassist.data.readers import ReadReport
    from finassist.data.sources import read_passages

    sentence = "核心企业确认应付账款后，供应商可以申请保理融资。"
    (tmp_path / "long.md").write_text(
        "# 手册\n\n" + "\n\n".join(sentence * 3 for _ in range(30)), encoding="utf-8"
    )
    passages = list(read_passages([tmp_path], ReadReport(), max_chars=200))
    assert len(passages) > 5
    assert all(len(p.text) <= 200 and p.title == "手册" for p in passages)
