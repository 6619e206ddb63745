"""The web UI in a real browser: Playwright driving Debian's chromium headless.

Needs ``apt-get install chromium`` (CI installs it); skipped with the reason when it is absent
(see tests/system_packages.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from tests.serve.conftest import (
    DOC,
    DOC_NAME,
    GatedEmbedder,
    Keys,
    LiveServer,
    gated_app,
    make_keys,
)
from tests.system_packages import require_chromium

from finassist.config import Settings
from finassist.serve import ServerOptions, create_app

pytestmark = [pytest.mark.integration, pytest.mark.system]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def kb_available() -> bool:
    try:
        import finassist.kb  # noqa: F401
    except ImportError:
        return False
    return True


def login(page, live: LiveServer, key: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(live.url + "/")
    page.fill("#login-key", key)
    page.click("#login-btn")
    page.wait_for_selector("#app-view:not([hidden])")


def upload_in_ui(browser, live: LiveServer, key: str, doc: Path):  # type: ignore[no-untyped-def]
    """A new page, logged in as ``key``, that has uploaded ``doc`` on the knowledge-base tab
    and waited for the 已导入 message."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, live, key)
    page.click("#nav-kb")
    page.set_input_files("#kb-file", str(doc))
    page.click("#kb-upload")
    page.wait_for_function("document.querySelector('#kb-status').textContent.startsWith('已导入')")
    return page


def test_ask_see_streamed_answer_with_citation_and_open_evidence(
    browser, live: LiveServer, keys: Keys
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    login(page, live, keys.m1)
    assert "客户经理 M001" in page.inner_text("#whoami")

    page.fill("#question", "远航汽配还有哪些应收发票没付？")
    page.click("#send")
    answer = page.locator(".msg.assistant").last
    answer.locator(".evidence-btn").wait_for(timeout=20_000)
    assert "宁波远航汽车零部件有限公司" in answer.inner_text()
    assert answer.locator(".cite").count() > 0

    answer.locator(".cite").first.click()
    page.wait_for_selector("#evidence-panel:not([hidden])")
    assert page.locator("#evidence-list .evidence-item").count() > 0
    assert page.locator("#evidence-list table.grid").count() > 0  # the invoice table

    page.fill("#question", "给他们推荐一个融资产品")
    page.click("#send")
    page.locator(".rec-card").wait_for(timeout=20_000)
    card = page.inner_text(".rec-card")
    assert "建议额度" in card and "利率区间" in card and "转人工" in card
    assert page.locator("#session-list li").count() == 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)
    assert all(url.startswith(live.url) for url in requests), "the UI must not reach outside"
    page.close()


def test_bad_key_shows_a_message(browser, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(live.url + "/")
    page.fill("#login-key", "fa-bad.key")
    page.click("#login-btn")
    page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert "无效" in page.inner_text("#login-error")
    page.close()


@pytest.fixture
def kb_app(settings: Settings) -> FastAPI:
    assert kb_available()
    return create_app(settings, options=ServerOptions(rate_per_minute=0))


def test_upload_a_document_and_get_an_answer_citing_it(
    browser, kb_app: FastAPI, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    keys = make_keys(kb_app.state.server.db)
    doc = tmp_path / "应收账款质押指引.md"
    doc.write_text(
        "# 应收账款质押指引\n\n## 第三条\n应收账款质押登记应当在中国人民银行征信中心动产融资统一登记公示系统办理。\n",
        encoding="utf-8",
    )
    with LiveServer(kb_app) as live:
        page = upload_in_ui(browser, live, keys.admin, doc)
        page.wait_for_function(
            "document.querySelector('#kb-docs').textContent.includes('应收账款质押指引')"
        )

        page.click("#nav-chat")
        page.fill("#question", "应收账款质押登记在哪里办理？")
        page.click("#send")
        answer = page.locator(".msg.assistant").last
        answer.locator(".actions").wait_for(timeout=20_000)
        answer.locator(".evidence-btn").click()
        assert "应收账款质押指引" in page.inner_text("#evidence-list")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-kb.png"), full_page=True)

        page.click("#nav-kb")
        page.on("dialog", lambda d: d.accept())
        page.locator("#kb-docs button").first.click()
        page.wait_for_function(
            "document.querySelector('#kb-status').textContent.startsWith('已删除')"
        )
        page.close()


def test_an_upload_shows_its_embedding_progress_until_the_vectors_are_done(
    browser, home: Path, gated: dict[str, GatedEmbedder], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = gated_app(home)  # the fake model waits at its gate: the vectors stay pending
    keys = make_keys(app.state.server.db)
    doc = tmp_path / DOC_NAME
    doc.write_text(DOC, encoding="utf-8")
    with LiveServer(app) as live:
        page = upload_in_ui(browser, live, keys.admin, doc)
        assert "向量在后台计算中 0/10" in page.inner_text("#kb-status")
        cell = page.locator("#kb-docs tr", has_text="冷链仓单质押业务指引").locator("td.embedded")
        assert cell.inner_text() == "0/10"
        page.wait_for_function(
            "document.querySelector('#kb-embedding').textContent.startsWith('向量化进度：0/10')"
        )
        page.screenshot(path=str(ARTIFACTS / "web-kb-embedding.png"), full_page=True)

        gated["a"].gate.set()
        page.wait_for_function("document.querySelector('#kb-embedding').hidden")
        assert cell.inner_text() == "完成"
        page.close()


def test_a_manager_sees_no_kb_buttons_and_a_chart_survives_reopening(
    browser, kb_app: FastAPI, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    keys = make_keys(kb_app.state.server.db)
    kb_app.state.server.kb_service().ingest(
        "# 保理办法\n\n第一条 保理融资期限不超过一年。\n".encode(), "保理办法.md"
    )
    with LiveServer(kb_app) as live:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, live, keys.m1)
        page.click("#nav-kb")
        page.wait_for_function(
            "document.querySelector('#kb-docs').textContent.includes('保理办法')"
        )
        # Uploading and deleting need an admin's key: a manager is not offered them.
        assert not page.locator("#kb-upload-card").is_visible()
        assert page.locator("#kb-docs button").count() == 0

        page.click("#nav-chat")
        page.fill("#question", "画出华东汽车近12个月的现金流")
        page.click("#send")
        page.locator(".msg.assistant .chart img").wait_for(timeout=30_000)
        page.click("#new-session")
        assert page.locator(".msg").count() == 0
        page.locator("#session-list li span").first.click()
        page.locator(".msg.assistant .chart img").wait_for(timeout=10_000)
        src = page.locator(".msg.assistant .chart img").first.get_attribute("src") or ""
        assert src.startswith("data:image/svg+xml") and len(src) > 1000
        page.close()
