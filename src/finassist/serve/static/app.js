/* finassist web UI: plain JavaScript, no build step, no network beyond this server. */
"use strict";

const KEY_STORE = "finassist.apiKey";
const MODEL = "finassist";
const state = { key: null, me: null, sessionId: null, evidence: [] };
const $ = (id) => document.getElementById(id);

const LABELS = {
  invoice_no: "发票号", seller_id: "销方", buyer_id: "购方", seller_name: "销方", buyer_name: "购方",
  counterparty_name: "对方", counterparty_id: "对方编号", amount: "金额", tax: "税额",
  total: "价税合计", outstanding: "未结金额", paid_amount: "已付金额", issue_date: "开票日",
  due_date: "到期日", paid_date: "付款日", status: "状态", days_overdue: "逾期天数",
  overdue_days: "逾期天数", value: "数值", unit: "单位", label: "指标", name: "名称",
};
const INVOICE_COLUMNS = ["invoice_no", "counterparty_name", "seller_id", "buyer_id", "amount",
  "tax", "outstanding", "issue_date", "due_date", "status", "days_overdue", "overdue_days"];

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function renderText(text) {
  return escapeHtml(text).split("\n").map((line) => "<p>" + line.replace(
    /\[(\d+)\]/g, '<a class="cite" data-n="$1" title="查看证据 $1">[$1]</a>') + "</p>").join("");
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.key }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || ("请求失败：HTTP " + response.status);
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

/* -- login ------------------------------------------------------------------------------- */

async function login(key) {
  state.key = key;
  try {
    state.me = await api("/api/me");
  } catch (error) {
    state.key = null;
    localStorage.removeItem(KEY_STORE);
    showLogin(error.status === 401 ? "密钥无效或已吊销，请重新输入。" : error.message);
    return;
  }
  localStorage.setItem(KEY_STORE, key);
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("whoami").textContent = (state.me.role === "admin" ? "管理员 " : "客户经理 ") + state.me.manager_id;
  // Show only what this key can do: uploading and deleting KB documents need an admin's key.
  $("kb-upload-card").hidden = !isAdmin();
  await loadSessions();
}

function isAdmin() { return Boolean(state.me && state.me.role === "admin"); }

function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("login-key").focus();
}

/* -- sessions ---------------------------------------------------------------------------- */

async function loadSessions() {
  const list = $("session-list");
  let sessions = [];
  try {
    sessions = (await api("/api/sessions?limit=50")).data;
  } catch (error) {
    list.innerHTML = '<li class="error">' + escapeHtml(error.message) + "</li>";
    return;
  }
  list.innerHTML = "";
  for (const s of sessions) {
    const item = document.createElement("li");
    item.dataset.id = s.id;
    item.className = s.id === state.sessionId ? "active" : "";
    item.innerHTML = "<span>" + escapeHtml(s.title) + '</span><button class="link" title="删除会话">✕</button>';
    item.querySelector("span").addEventListener("click", () => openSession(s.id));
    item.querySelector("button").addEventListener("click", () => deleteSession(s.id));
    list.appendChild(item);
  }
}

async function openSession(id) {
  const body = await api("/api/sessions/" + encodeURIComponent(id) + "/turns");
  state.sessionId = id;
  $("messages").innerHTML = "";
  for (const turn of body.data) {
    addMessage("user", turn.user_text);
    const el = addMessage("assistant", turn.reply_text);
    finishMessage(el, {
      evidence: turn.evidence, recommendation: turn.recommendation, session_id: id,
      turn_seq: turn.seq, rating: turn.rating, chart: turn.chart, unverified: turn.unverified,
    });
  }
  await loadSessions();
}

async function deleteSession(id) {
  if (!confirm("确定删除这个会话吗？")) return;
  await api("/api/sessions/" + encodeURIComponent(id), { method: "DELETE" });
  if (state.sessionId === id) newSession();
  await loadSessions();
}

function newSession() {
  state.sessionId = null;
  $("messages").innerHTML = "";
  closeEvidence();
}

/* -- chat -------------------------------------------------------------------------------- */

function addMessage(role, text) {
  const el = document.createElement("div");
  el.className = "msg " + role;
  el.innerHTML = '<div class="text"></div>';
  el.querySelector(".text").innerHTML = role === "user" ? escapeHtml(text) : renderText(text);
  el.dataset.raw = text;
  $("messages").appendChild(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

async function ask(question) {
  addMessage("user", question);
  const el = addMessage("assistant", "");
  el.classList.add("streaming");
  const headers = { Authorization: "Bearer " + state.key, "Content-Type": "application/json" };
  if (state.sessionId) headers["X-Session-Id"] = state.sessionId;
  const response = await fetch("/v1/chat/completions", {
    method: "POST", headers,
    body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: question }] }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    el.querySelector(".text").innerHTML = '<p class="error">' +
      escapeHtml((body.error && body.error.message) || "请求失败：HTTP " + response.status) + "</p>";
    if (response.status === 401) showLogin("登录已失效，请重新输入密钥。");
    return;
  }
  state.sessionId = response.headers.get("X-Session-Id") || state.sessionId;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", extra = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
      if (!data || data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) {
        text += delta.content;
        el.dataset.raw = text;
        el.querySelector(".text").innerHTML = renderText(text);
      }
      if (chunk.finassist) extra = chunk.finassist;
    }
  }
  el.classList.remove("streaming");
  if (extra) finishMessage(el, extra);
  await loadSessions();
}

function finishMessage(el, extra) {
  const evidence = extra.evidence || [];
  el.evidence = evidence;
  if (extra.unverified && extra.unverified.length) {
    el.insertAdjacentHTML("beforeend", '<div class="unverified">以下内容无法核实，已删除：' +
      escapeHtml(extra.unverified.join("、")) + "</div>");
  }
  if (extra.recommendation && extra.recommendation.recommended_product) {
    el.insertAdjacentHTML("beforeend", recommendationCard(extra.recommendation));
  }
  if (extra.chart && extra.chart.svg) {
    const img = document.createElement("img");
    img.alt = "图表";
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(extra.chart.svg);
    const box = document.createElement("div");
    box.className = "chart";
    box.appendChild(img);
    el.appendChild(box);
  }
  const actions = document.createElement("div");
  actions.className = "actions";
  if (evidence.length) {
    const button = document.createElement("button");
    button.className = "link evidence-btn";
    button.type = "button";
    button.textContent = "查看证据（" + evidence.length + "）";
    button.addEventListener("click", () => showEvidence(evidence));
    actions.appendChild(button);
  }
  if (extra.turn_seq) actions.appendChild(ratingWidget(extra.session_id, extra.turn_seq, extra.rating));
  el.appendChild(actions);
  el.querySelectorAll(".cite").forEach((a) => a.addEventListener("click", () => showEvidence(evidence, Number(a.dataset.n))));
}

function money(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n.toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " 元" : escapeHtml(value);
}

function recommendationCard(rec) {
  const range = rec.recommended_rate_range || [];
  const drivers = (rec.drivers || []).slice(0, 3).map((d) =>
    "<li>" + escapeHtml(d.name) + "：" + escapeHtml(d.value) + " " + escapeHtml(d.unit || "") + "</li>").join("");
  const handoff = rec.escalate_to_human
    ? '<span class="handoff-yes">需要转人工审批</span>' : '<span class="handoff-no">无需转人工</span>';
  return '<div class="rec-card"><h4>推荐结果</h4><dl>' +
    "<dt>产品</dt><dd>" + escapeHtml(rec.recommended_product_name || rec.recommended_product) + "</dd>" +
    "<dt>建议额度</dt><dd>" + money(rec.recommended_amount) + "</dd>" +
    "<dt>利率区间</dt><dd>" + escapeHtml(range[0]) + "% – " + escapeHtml(range[1]) + "%</dd>" +
    "<dt>风险评分</dt><dd>" + escapeHtml(rec.risk_score) + (rec.risk_level ? "（" + escapeHtml(rec.risk_level) + "）" : "") + "</dd>" +
    "<dt>主要因素</dt><dd><ol>" + drivers + "</ol></dd>" +
    "<dt>转人工</dt><dd>" + handoff + "</dd></dl></div>";
}

function ratingWidget(sessionId, seq, existing) {
  const box = document.createElement("span");
  box.className = "rating";
  box.innerHTML = '<span class="muted">评分：</span>' +
    [1, 2, 3, 4, 5].map((n) => '<button type="button" data-score="' + n + '">' + n + "</button>").join("") +
    ' <input type="text" placeholder="评语（可选）" maxlength="2000"> <button type="button" class="submit">提交</button> <span class="saved muted"></span>';
  let score = existing ? existing.score : 0;
  const paint = () => box.querySelectorAll("[data-score]").forEach((b) => b.classList.toggle("on", Number(b.dataset.score) <= score));
  if (existing) box.querySelector("input").value = existing.comment || "";
  paint();
  box.querySelectorAll("[data-score]").forEach((b) => b.addEventListener("click", () => { score = Number(b.dataset.score); paint(); }));
  box.querySelector(".submit").addEventListener("click", async () => {
    if (!score) { box.querySelector(".saved").textContent = "请先选择 1-5 分"; return; }
    try {
      await api("/api/sessions/" + encodeURIComponent(sessionId) + "/turns/" + seq + "/rating", {
        method: "PUT", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ score, comment: box.querySelector("input").value }),
      });
      box.querySelector(".saved").textContent = "已保存";
    } catch (error) {
      box.querySelector(".saved").textContent = error.message;
    }
  });
  return box;
}

/* -- evidence panel ---------------------------------------------------------------------- */

function table(rows, columns) {
  const cols = columns.filter((c) => rows.some((r) => r[c] !== undefined && r[c] !== null));
  if (!cols.length) return "";
  return '<table class="grid"><thead><tr>' + cols.map((c) => "<th>" + escapeHtml(LABELS[c] || c) + "</th>").join("") +
    "</tr></thead><tbody>" + rows.map((r) => "<tr>" + cols.map((c) => "<td>" + escapeHtml(r[c]) + "</td>").join("") + "</tr>").join("") +
    "</tbody></table>";
}

function evidenceBody(item) {
  const data = item.data || {};
  const title = data.title || data.document || data.doc_title;
  if (title && (data.locator !== undefined || item.kind === "kb" || item.kind === "passage")) {
    const locator = data.locator || (data.page ? "第" + data.page + "页" : "");
    return '<div class="doc">《' + escapeHtml(title) + "》" + escapeHtml(locator) + "</div><div>" + escapeHtml(data.text || item.text) + "</div>";
  }
  if (item.kind === "invoice") return "<div>" + escapeHtml(item.text) + "</div>" + table([data], INVOICE_COLUMNS);
  if (Array.isArray(data.invoices) && data.invoices.length) {
    return "<div>" + escapeHtml(item.text) + "</div>" + table(data.invoices.slice(0, 20), INVOICE_COLUMNS);
  }
  return "<div>" + escapeHtml(item.text) + "</div>";
}

function showEvidence(evidence, focus) {
  const list = $("evidence-list");
  list.innerHTML = "";
  evidence.forEach((item, i) => {
    const li = document.createElement("li");
    li.className = "evidence-item" + (focus === i + 1 ? " focus" : "");
    li.innerHTML = '<div class="source">' + escapeHtml(item.source) + " · " + escapeHtml(item.kind) + "</div>" + evidenceBody(item);
    list.appendChild(li);
    if (focus === i + 1) setTimeout(() => li.scrollIntoView({ block: "center" }), 0);
  });
  $("evidence-panel").hidden = false;
}

function closeEvidence() { $("evidence-panel").hidden = true; }

/* -- knowledge base ---------------------------------------------------------------------- */

/* A document's vectors: "完成", "12/40" while the server embeds it, "—" without an embedder. */
function embeddedLabel(d) {
  const total = d.n_chunks ?? d.chunks;
  if (d.embedded === undefined || d.embedded === null || total === undefined) return "—";
  return d.embedded >= total ? "完成" : d.embedded + "/" + total;
}

async function loadDocuments() {
  const body = $("kb-docs");
  try {
    const docs = (await api("/api/kb/documents")).data;
    body.innerHTML = docs.length ? "" : '<tr><td colspan="6" class="muted">知识库还没有文档。</td></tr>';
    for (const d of docs) {
      const tr = document.createElement("tr");
      tr.innerHTML = "<td>" + escapeHtml(d.title || d.filename) + "</td><td>" + escapeHtml(d.kind || "") + "</td><td>" +
        escapeHtml(d.n_chunks ?? d.chunks ?? "") + '</td><td class="embedded">' + escapeHtml(embeddedLabel(d)) +
        "</td><td><code>" + escapeHtml(d.id) + "</code></td><td>" +
        (isAdmin() ? '<button class="link">删除</button>' : "") + "</td>";
      if (isAdmin()) tr.querySelector("button").addEventListener("click", () => removeDocument(d.id, d.title));
      body.appendChild(tr);
    }
  } catch (error) {
    body.innerHTML = '<tr><td colspan="6" class="error">' + escapeHtml(error.message) + "</td></tr>";
  }
  await showEmbedding();
}

/* The background embedding, polled while the knowledge-base view is open and chunks wait. */
const EMBED_POLL_MS = 2000;
let embedTimer = null;

async function showEmbedding(known) {
  clearTimeout(embedTimer);
  const line = $("kb-embedding");
  const status = known || await api("/api/kb/status").catch(() => null);
  if (!status) { line.hidden = true; return; }
  const run = status.embedding || {};
  const waiting = (run.pending || 0) > 0;
  line.hidden = !(waiting || run.state === "failed");
  if (run.state === "failed") {
    line.textContent = "向量计算失败：" + (run.error || "未知原因") + "。文档仍可按关键词（BM25）检索。";
  } else if (waiting) {
    line.textContent = "向量化进度：" + status.embedded + "/" + status.chunks + " 个片段已完成，" +
      "其余在后台计算中；在此期间新文档按关键词（BM25）检索，完成后自动启用语义检索。";
  }
  if (waiting && run.state !== "failed" && !$("kb-view").hidden) {
    embedTimer = setTimeout(async () => {
      const now = await api("/api/kb/status").catch(() => null);
      if (now && now.embedded !== status.embedded) await loadDocuments(); else await showEmbedding(now);
    }, EMBED_POLL_MS);
  }
}

async function uploadDocument(event) {
  event.preventDefault();
  const file = $("kb-file").files[0];
  if (!file) { $("kb-status").textContent = "请先选择文件。"; return; }
  const form = new FormData();
  form.append("file", file);
  $("kb-status").textContent = "正在上传并建立索引……";
  try {
    const result = await api("/api/kb/documents", { method: "POST", body: form });
    const doc = result.document || {};
    const label = embeddedLabel(doc);
    $("kb-status").textContent = "已导入：" + (doc.title || file.name) +
      (label === "—" || label === "完成" ? "" : "（可立即按关键词检索；向量在后台计算中 " + label + "）");
    $("kb-file").value = "";
  } catch (error) {
    $("kb-status").textContent = "上传失败：" + error.message;
  }
  await loadDocuments();
}

async function removeDocument(id, title) {
  if (!confirm("确定从知识库删除《" + title + "》吗？")) return;
  try {
    await api("/api/kb/documents/" + encodeURIComponent(id), { method: "DELETE" });
    $("kb-status").textContent = "已删除：" + title;
  } catch (error) {
    $("kb-status").textContent = "删除失败：" + error.message;
  }
  await loadDocuments();
}

async function searchKb(event) {
  event.preventDefault();
  const q = $("kb-query").value.trim();
  if (!q) return;
  const list = $("kb-results");
  try {
    const hits = (await api("/api/kb/search?limit=5&q=" + encodeURIComponent(q))).data;
    list.innerHTML = hits.length ? hits.map((p) => '<li><div class="doc">' + escapeHtml(p.citation || ("《" + p.title + "》" + (p.locator || ""))) +
      "</div><div>" + escapeHtml(p.text) + "</div></li>").join("") : '<li class="muted">没有找到相关段落。</li>';
  } catch (error) {
    list.innerHTML = '<li class="error">' + escapeHtml(error.message) + "</li>";
  }
}

function showView(name) {
  $("chat-view").hidden = name !== "chat";
  $("kb-view").hidden = name !== "kb";
  $("nav-chat").classList.toggle("active", name === "chat");
  $("nav-kb").classList.toggle("active", name === "kb");
  if (name === "kb") loadDocuments();
}

/* -- wiring ------------------------------------------------------------------------------ */

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("login-key").value.trim()); });
  $("logout").addEventListener("click", () => { localStorage.removeItem(KEY_STORE); state.key = null; newSession(); showLogin(""); });
  $("new-session").addEventListener("click", () => { newSession(); loadSessions(); });
  $("close-evidence").addEventListener("click", closeEvidence);
  $("nav-chat").addEventListener("click", () => showView("chat"));
  $("nav-kb").addEventListener("click", () => showView("kb"));
  $("kb-form").addEventListener("submit", uploadDocument);
  $("kb-search-form").addEventListener("submit", searchKb);
  const send = async (e) => {
    if (e) e.preventDefault();
    const q = $("question").value.trim();
    if (!q) return;
    $("question").value = "";
    $("send").disabled = true;
    try { await ask(q); } catch (error) { addMessage("assistant", "出错了：" + error.message); }
    finally { $("send").disabled = false; $("question").focus(); }
  };
  $("ask-form").addEventListener("submit", send);
  $("question").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e); });

  const fromLink = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromLink) history.replaceState(null, "", location.pathname);
  const key = fromLink || localStorage.getItem(KEY_STORE);
  if (key) login(key); else showLogin("");
});
