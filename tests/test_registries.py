"""Registries refuse a name registered twice instead of silently replacing the first."""

from __future__ import annotations

import pytest

import finassist.assistant  # noqa: F401  (registers the composers)
from finassist.assistant.handlers import HANDLERS, handler
from finassist.errors import DuplicateName
from finassist.kb.readers import reader


def test_a_second_composer_for_an_intent_is_refused_by_name() -> None:
    first = HANDLERS["product_info"]
    with pytest.raises(DuplicateName, match="product_info"):
        handler("product_info")(lambda turn: None)  # type: ignore[arg-type,return-value]
    assert HANDLERS["product_info"] is first


def test_a_second_reader_for_a_suffix_is_refused() -> None:
    with pytest.raises(DuplicateName, match=r"\.pdf"):
        reader(".pdf")(lambda path, data, kind: [])
