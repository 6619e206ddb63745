"""The one encoding detector: files as Chinese tools write them read as the same text."""

from __future__ import annotations

import pytest

from finassist.fileio import UnknownEncoding, decode_text, detect_encoding, guess_encoding

TEXT = "保理合同是应收账款债权人将现有的或者将有的应收账款转让给保理人的合同。发票号 INV-001。\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_every_encoding_chinese_tools_write_decodes_to_the_same_text(encoding: str) -> None:
    assert decode_text(TEXT.encode(encoding), "a.txt") == TEXT


def test_short_gbk_text_is_not_taken_for_another_charset() -> None:
    # charset-normalizer alone names Big5, cp949 or Shift-JIS for a few GBK characters
    for word in ("好", "你好", "应收账款", "合同"):
        assert decode_text(word.encode("gbk"), "a.txt") == word


def test_long_big5_text_is_read_as_big5() -> None:
    text = "保理合同是應收賬款債權人將現有的或者將有的應收賬款轉讓給保理人。" * 40
    assert decode_text(text.encode("big5"), "a.txt") == text


def test_a_utf8_stream_with_a_few_broken_bytes_stays_utf8() -> None:
    head = (TEXT * 20).encode() + b"\xff\xfe" + TEXT.encode()
    assert detect_encoding(head) == "utf-8"
    assert decode_text(head, "a.txt").count("\ufffd") == 2


def test_binary_data_is_refused_by_name_and_a_stream_falls_back_to_gbk() -> None:
    binary = bytes(range(256)) * 8
    assert guess_encoding(binary) is None
    with pytest.raises(UnknownEncoding, match=r"report\.bin 的编码无法识别"):
        decode_text(binary, "report.bin")
    assert detect_encoding(binary) == "gb18030"
