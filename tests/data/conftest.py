"""Tiny inputs the data-pipeline tests build for themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finassist.data.chatlog import write_sample_chatlog


@pytest.fixture(scope="session")
def chatlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic WeChat export of 3,000 messages."""
    path = tmp_path_factory.mktemp("chat") / "chat.csv"
    write_sample_chatlog(path, messages=3000, seed=7)
    return path


@pytest.fixture(scope="session")
def knowledge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two knowledge documents: Markdown with headings and JSONL."""
    root = tmp_path_factory.mktemp("kb")
    sections = []
    for n in range(40):
        sections.append(
            f"## 保理业务要点{n}\n\n保理合同是应收账款债权人将现有的或者将有的应收账款转让给保理人，"
            f"保理人提供资金融通、应收账款管理或者催收等服务的合同（要点{n}）。联系人王经理，电话13812345678。\n"
        )
    (root / "factoring.md").write_text("# 保理\n\n" + "\n".join(sections), encoding="utf-8")
    rows = [
        {
            "id": f"d{n}",
            "title": f"反向保理{n}",
            "text": f"反向保理由核心企业发起，基于其对供应商的应付账款确认提供融资（第{n}条）。",
        }
        for n in range(30)
    ]
    (root / "reverse.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
    )
    return root
