"""Chinese chunking and tokens: articles stay whole, sizes are bounded, finance words survive."""

from __future__ import annotations

from finassist.kb.chunking import MAX_CHARS, chunk_sections, sentences
from finassist.kb.readers import markdown_sections
from finassist.kb.tokenize import Tokenizer
from finassist.kb.types import Section

LAW = """# 示例条例

## 第一章  总则

第一条 为了规范保理业务，制定本条例。

第二条 保理人应当审查应收账款的真实性。
保理人发现虚构应收账款的，应当拒绝融资。

## 第二章  附则

第三条 本条例自公布之日起施行。
"""


def test_each_legal_article_is_one_chunk_with_its_article_and_chapter() -> None:
    _, sections = markdown_sections(LAW)
    chunks = chunk_sections(sections)
    assert [c.locator for c in chunks] == ["第一条", "第二条", "第三条"]
    assert "拒绝融资" in chunks[1].text  # the article's second paragraph stays with it
    assert chunks[2].heading.endswith("第二章 附则")


def test_long_text_is_split_at_sentence_ends_with_overlap() -> None:
    text = "".join(
        f"第{i}句话讲的是应收账款转让的一个细节，内容足够长以便切分。" for i in range(80)
    )
    chunks = chunk_sections([Section(text, heading="长段落")])
    assert len(chunks) > 3
    assert all(len(c.text) <= MAX_CHARS for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)
    # consecutive pieces share the sentence at the seam
    assert sentences(chunks[0].text)[-1] == sentences(chunks[1].text)[0]
    assert {c.locator for c in chunks} == {"长段落"}


def test_pages_are_kept_as_locators() -> None:
    chunks = chunk_sections([Section("第一页的内容。", page=1), Section("第二页的内容。", page=2)])
    assert [c.locator for c in chunks] == ["第1页", "第2页"]
    assert [c.page for c in chunks] == [1, 2]


def test_finance_words_are_kept_whole_and_fillers_leave_queries() -> None:
    tok = Tokenizer.default()
    tokens = tok.tokens("反向保理的应收账款账期")
    assert {"反向保理", "保理", "应收账款", "账期"} <= set(tokens)
    assert "的" not in tokens
    assert tok.query_tokens("什么是反向保理？") == ["反向", "保理", "反向保理"]
