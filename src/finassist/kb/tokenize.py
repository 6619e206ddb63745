"""Chinese tokens for BM25: jieba with a finance user dictionary, search-mode segmentation.

The same function tokenises documents and queries, so both sides agree on every word.
``cut_for_search`` also emits the dictionary words inside a long word (反向保理 -> 反向, 保理,
反向保理), which lets a query for 保理 find 反向保理.

>>> Tokenizer.default().tokens("反向保理的申请材料")
['反向', '保理', '反向保理', '申请', '材料']
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import cache
from importlib import resources

MAX_TOKEN_CHARS = 32  # longer "words" are junk (URLs, hashes) and would not fit kb_terms.term
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)


def _data_lines(name: str) -> list[str]:
    text = resources.files("finassist.kb").joinpath(f"data/{name}").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


class Tokenizer:
    """A jieba tokenizer of its own (not jieba's global one) with the finance dictionary.

    Loading jieba's dictionary takes about a second, so it happens on first use, not here.
    """

    def __init__(self, userdict_lines: list[str], stopwords: set[str], fillers: set[str]) -> None:
        self._userdict = userdict_lines
        self.stopwords = stopwords
        self.fillers = fillers  # question words dropped from queries only (什么, 哪些, 规定 ...)
        self._jieba = None

    @classmethod
    @cache
    def default(cls) -> Tokenizer:
        """The tokenizer with the package's dictionary and stop words (built once per process)."""
        return cls(
            _data_lines("finance_userdict.txt"),
            set(_data_lines("stopwords.txt")),
            set(_data_lines("query_fillers.txt")),
        )

    def warm_up(self) -> None:
        """Load jieba's dictionary and ours."""
        if self._jieba is not None:
            return
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.initialize()
        for line in self._userdict:
            parts = line.split()
            freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            tok.add_word(parts[0], freq=freq)
        self._jieba = tok

    def tokens(self, text: str) -> list[str]:
        """Index tokens: NFKC-normalised, lower-case words without punctuation or stop words."""
        self.warm_up()
        assert self._jieba is not None
        text = unicodedata.normalize("NFKC", text).lower()
        out = []
        for word in self._jieba.cut_for_search(text, HMM=True):
            word = word.strip()
            if (
                word
                and len(word) <= MAX_TOKEN_CHARS
                and word not in self.stopwords
                and _WORDLIKE.search(word)
                and not (len(word) == 1 and not word.isalnum())
            ):
                out.append(word)
        return out

    def query_tokens(self, text: str) -> list[str]:
        """Distinct query tokens, in order, without question fillers (falls back to all)."""
        seen: dict[str, None] = {}
        for token in self.tokens(text):
            seen.setdefault(token, None)
        kept = [t for t in seen if t not in self.fillers]
        return kept or list(seen)
