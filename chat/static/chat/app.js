// The chat page: plain modern JS, no build step. Markdown is rendered with marked and
// sanitized with DOMPurify; raw HTML in messages is shown as text, never executed. Code
// blocks are highlighted by Prism (which escapes what it tokenizes). Every text that comes
// from the server or the user goes in through textContent or that sanitizer.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PAGE = 30;
const NARROW = window.matchMedia("(max-width: 760px)");
const state = {
  workspace: null, username: "", agents: new Map(), agent: null,
  session: null,            // {id, title, agent_id} of the open session, or null (a new chat)
  socket: null, socketOpen: false,
  oldestId: null, newestId: null, hasMore: false, loadingOlder: false,
  running: null,            // execution id of the turn in progress
  sending: false,           // a send is on its way (until the server stored it or refused)
  bubbles: new Map(),       // execution id -> reply bubble {el, body, content, seq, ...}
  messages: new Set(),      // ids of messages already on screen
  finished: new Set(),      // executions whose stored reply is on screen
  userText: new Map(),      // execution id -> the user's message (for Retry)
  feedback: new Map(),      // execution id -> 1 | -1
  coversUntil: null,        // the last message the session's summary covers, or null
  showAll: false, search: "",
};

function csrf() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

function headers(extra) {
  return {"Content-Type": "application/json", "X-CSRFToken": csrf(),
          "X-Workspace-ID": state.workspace, ...extra};
}

async function api(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method, credentials: "same-origin", headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new Error(json && json.error ? json.error.message : `${res.status} ${res.statusText}`);
  return json;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, label, onclick) {
  const b = el("button", className, text);
  b.type = "button";
  if (label) { b.title = label; b.setAttribute("aria-label", label); }
  if (onclick) b.onclick = onclick;
  return b;
}

// --- markdown and code, safely ------------------------------------------------------------
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => (
  {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
marked.use({renderer: {html(token) { return escapeHtml(token.raw || token.text || ""); }}});

function renderMarkdown(target, text) {
  target.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), {
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i, FORBID_TAGS: ["style", "img", "iframe", "form"],
  });
  for (const a of target.querySelectorAll("a")) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
  for (const pre of target.querySelectorAll("pre")) codeBlock(pre);
}

function codeBlock(pre) {
  const code = pre.querySelector("code");
  if (!code) return;
  const lang = ([...code.classList].find((c) => c.startsWith("language-")) || "").slice(9);
  const text = code.textContent;
  if (lang && window.Prism && Prism.languages[lang]) Prism.highlightElement(code);
  const wrap = el("div", "code");
  const head = el("div", "code-head");
  head.append(el("span", "lang", lang || "code"),
              button("link copy-code", "Copy code", "Copy this code", (e) => copy(text, e.target)));
  pre.replaceWith(wrap);
  wrap.append(head, pre);
}

async function copy(text, btn) {
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch {
    const area = Object.assign(document.createElement("textarea"), {value: text});
    document.body.append(area); area.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
  }
  const was = btn.textContent;
  btn.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => { btn.textContent = was; }, 1500);
}

// --- small formats ------------------------------------------------------------------------
function clock(iso) {
  const d = new Date(iso);
  const hm = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  if (d.toDateString() === new Date().toDateString()) return hm;
  return `${d.toLocaleDateString([], {month: "short", day: "numeric"})}, ${hm}`;
}

function ago(iso) {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function money(cost) {
  const c = Number(cost) || 0;
  return `$${c >= 0.01 || c === 0 ? c.toFixed(2) : c.toFixed(6)}`;
}

function autoTitle(text) {
  const line = text.trim().replace(/\s+/g, " ");
  return line.length > 60 ? `${line.slice(0, 57).trimEnd()}…` : line;
}

function timeEl(iso) {
  const t = el("time", "", clock(iso));
  t.dateTime = iso;
  t.title = new Date(iso).toLocaleString();
  return t;
}

function status(text, isError) {
  const s = $("#status");
  s.textContent = text || "";
  s.classList.toggle("error", Boolean(isError));
}

// --- the sidebar: layout -------------------------------------------------------------------
function sidebarOpen() {
  return NARROW.matches ? $(".app").classList.contains("open")
    : !$(".app").classList.contains("collapsed");
}

function setSidebar(open) {
  const app = $(".app");
  if (NARROW.matches) app.classList.toggle("open", open);
  else app.classList.toggle("collapsed", !open);
  $("#backdrop").hidden = !(NARROW.matches && open);
  $("#toggle-sidebar").setAttribute("aria-expanded", String(open));
  if (open && NARROW.matches) $("#search").focus();
}

function closeSidebarOnPhone() { if (NARROW.matches) setSidebar(false); }

// --- agents and sessions -------------------------------------------------------------------
async function loadAgents(preferred) {
  const {data} = await api("GET", "/agents?limit=100");
  state.agents = new Map(data.map((a) => [a.id, a]));
  const select = $("#agent");
  select.replaceChildren(...data.map((a) => new Option(a.name, a.id)));
  // the session's agent; else the one last chosen here; else the first one made (bootstrap's
  // demo agent), not whichever is newest
  let last = null;
  try { last = localStorage.getItem(`promptrails:agent:${state.workspace}`); } catch { /* none */ }
  const oldest = data.reduce((a, b) => (!a || b.created_at < a.created_at ? b : a), null);
  const choice = [preferred, last, oldest && oldest.id].find((id) => id && state.agents.has(id));
  if (choice) select.value = choice;
  state.agent = select.value || null;
  if (!data.length) status("This workspace has no agent yet: create one in the admin or the API.", true);
}

function canSeeAll() {
  const option = $("#workspace").selectedOptions[0];
  return Boolean($("#all-switch").dataset.staff) || (option && option.dataset.role === "admin");
}

async function loadSessions() {
  const params = new URLSearchParams({limit: "100"});
  if (!state.showAll) params.set("user_id", state.username);
  if (state.search) params.set("search", state.search);
  const {data} = await api("GET", `/chat/sessions?${params}`);
  const list = $("#sessions");
  list.replaceChildren();
  if (!data.length) {
    list.append(el("li", "muted small empty", state.search ? "No chat matches." : "No chats yet."));
  }
  for (const s of data) list.append(sessionItem(s));
}

function sessionItem(s) {
  const li = el("li");
  li.dataset.id = s.id;
  li.classList.toggle("active", Boolean(state.session && s.id === state.session.id));
  const link = el("a", "open");
  link.href = `/s/${encodeURIComponent(s.id)}`;
  link.append(el("span", "title", s.title || "Untitled"));
  const agent = state.agents.get(s.agent_id);
  const meta = [ago(s.updated_at)];
  if (state.agents.size > 1 && agent) meta.unshift(agent.name);
  if (state.showAll && s.user_id && s.user_id !== state.username) meta.push(s.user_id);
  link.append(el("span", "muted small", meta.join(" · ")));
  link.onclick = (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    openSession(s.id, {push: true});
  };
  const del = button("link danger delete", "×", "Delete this chat", async () => {
    if (!confirm(`Delete “${s.title || "Untitled"}”?`)) return;
    try {
      await api("DELETE", `/chat/sessions/${s.id}`);
      if (state.session && state.session.id === s.id) newChat({push: true});
      loadSessions();
    } catch (err) { status(err.message, true); }
  });
  li.append(link, del);
  return li;
}

function markActive() {
  for (const li of document.querySelectorAll("#sessions li")) {
    li.classList.toggle("active", Boolean(state.session && li.dataset.id === state.session.id));
  }
}

function addMetaRow() {
  const row = el("div", "meta-row");
  const k = Object.assign(el("input", "k"), {placeholder: "key"});
  const v = Object.assign(el("input", "v"), {placeholder: "value"});
  k.setAttribute("aria-label", "Metadata key"); v.setAttribute("aria-label", "Metadata value");
  row.append(k, v);
  $("#meta-rows").append(row);
}

async function createSession(event) {
  event.preventDefault();
  const form = event.target;
  const metadata = {};
  for (const row of form.querySelectorAll(".meta-row")) {
    const k = row.querySelector(".k").value.trim();
    if (k) metadata[k] = row.querySelector(".v").value;
  }
  try {
    const {data} = await api("POST", "/chat/sessions",
      {agent_id: state.agent, title: form.title.value, metadata});
    form.reset();
    $("#meta-rows").replaceChildren();
    $("#new-session").open = false;
    await openSession(data.id, {push: true, session: data});
    loadSessions();
  } catch (err) { status(err.message, true); }
}

// --- drafts: what is typed survives a reload and a switch of chats ------------------------
const draftKey = () => `promptrails:draft:${state.session ? state.session.id : `new:${state.workspace}`}`;
let shownDraft = null;   // the key of the draft in the box (none before the first chat opens)
function saveDraft() {
  if (shownDraft === null) return;
  try {
    const text = $("#input").value;
    if (text) sessionStorage.setItem(shownDraft, text); else sessionStorage.removeItem(shownDraft);
  } catch { /* storage unavailable */ }
}
function loadDraft() {
  shownDraft = draftKey();
  try { $("#input").value = sessionStorage.getItem(shownDraft) || ""; } catch { /* none */ }
}
function restoreText(content) {   // a send that failed gives its text back
  const input = $("#input");
  input.value = input.value ? `${content}\n${input.value}` : content;
  saveDraft();
  input.focus();
}

// --- opening a chat -------------------------------------------------------------------------
function resetConversation() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  Object.assign(state, {socket: null, socketOpen: false, running: null, oldestId: null,
                        newestId: null, hasMore: false, coversUntil: null});
  for (const m of [state.bubbles, state.messages, state.finished, state.userText, state.feedback]) m.clear();
  $("#conversation").replaceChildren();
  setRunningUi(false);
}

function showHeader() {
  const s = state.session;
  $("#chat-title").textContent = s ? (s.title || "Untitled") : "New chat";
  $("#rename").hidden = !s;
  const agent = state.agents.get(s ? s.agent_id : state.agent);
  $("#chat-agent").textContent = agent ? agent.name : "";
  document.title = s && s.title ? `${s.title} · PromptRails chat` : "PromptRails chat";
}

// `opening`: the page's own start, not a click: the sidebar is left as the user has it (on a
// phone they may have opened it while the page was still loading)
function newChat({push, opening} = {}) {
  saveDraft();
  state.session = null;
  resetConversation();
  if (push && location.pathname !== "/") history.pushState(null, "", "/");
  showHeader();
  markActive();
  showPlaceholder();
  loadDraft();
  if (!opening) closeSidebarOnPhone();
  $("#input").focus();
}

async function openSession(id, {push, session, opening} = {}) {
  saveDraft();
  const data = session || (await api("GET", `/chat/sessions/${encodeURIComponent(id)}`)).data;
  state.session = {id: data.id, title: data.title, agent_id: data.agent_id};
  resetConversation();
  state.coversUntil = data.summary ? data.summary.covers_until_message_id : null;
  const path = `/s/${encodeURIComponent(data.id)}`;
  if (push && location.pathname !== path) history.pushState(null, "", path);
  else if (location.pathname !== path) history.replaceState(null, "", path);
  if (data.agent_id && state.agents.has(data.agent_id)) {
    $("#agent").value = data.agent_id;
    state.agent = data.agent_id;
  }
  showHeader();
  markActive();
  loadDraft();
  if (!opening) closeSidebarOnPhone();
  await loadLatest();
  connect();
}

async function loadLatest() {
  const sid = state.session.id;
  const first = await api("GET", `/chat/sessions/${sid}/messages?limit=1`);
  const total = first.meta.total;
  if (!total) { showPlaceholder(); return; }
  const lastPage = Math.ceil(total / PAGE);
  const page = await api("GET", `/chat/sessions/${sid}/messages?limit=${PAGE}&page=${lastPage}`);
  let items = page.data;
  if (items.length < 10 && lastPage > 1) {
    const prev = await api("GET", `/chat/sessions/${sid}/messages?limit=${PAGE}&page=${lastPage - 1}`);
    items = prev.data.concat(items);
  }
  state.hasMore = total > items.length;
  await loadFeedback(sid);
  prependMessages(items);
  placeDivider();
  scrollToEnd();
  showUnansweredTurns(sid);
}

async function loadFeedback(sid) {
  try {
    for (let page = 1; page <= 10; page++) {
      const res = await api("GET", `/chat/sessions/${sid}/feedback?limit=100&page=${page}`);
      for (const f of res.data) state.feedback.set(f.execution_id, f.value);
      if (page >= res.meta.pages) break;
    }
  } catch { /* thumbs then start neutral */ }
}

function showPlaceholder() {
  if ($("#conversation").children.length) return;
  const p = el("div", "placeholder");
  p.append(el("p", "", "What can I help with?"));
  const hint = el("p", "muted small");
  hint.textContent = state.session ? "Say hello." :
    "Type below to start a new chat. Try “what is 12*(3+4)?” or “what time is it in Asia/Tokyo?”";
  p.append(hint);
  $("#conversation").append(p);
}

async function loadOlder() {
  if (!state.hasMore || state.loadingOlder || !state.oldestId) return;
  state.loadingOlder = true;
  const box = $("#conversation");
  const before = box.scrollHeight;
  const sid = state.session.id;
  try {
    const res = await api("GET", `/chat/sessions/${sid}/messages?limit=${PAGE}&before=${state.oldestId}`);
    if (!state.session || state.session.id !== sid) return;
    state.hasMore = res.meta.has_more;
    prependMessages(res.data);
    placeDivider();
    box.scrollTop += box.scrollHeight - before;
    showUnansweredTurns(sid);
  } finally { state.loadingOlder = false; }
}

function prependMessages(items) {
  const nodes = [];
  for (const m of items) {
    if (state.messages.has(m.id)) continue;
    state.messages.add(m.id);
    if (m.role === "user" && m.execution_id) state.userText.set(m.execution_id, m.content);
    if (m.role === "assistant" && m.execution_id) state.finished.add(m.execution_id);
    nodes.push(messageEl(m));
  }
  if (items.length) {
    state.oldestId = items[0].id;
    const last = items[items.length - 1].id;
    if (!state.newestId || last > state.newestId) state.newestId = last;
  }
  $("#conversation").prepend(...nodes);
}

// A turn whose reply was never stored (the model failed before a word, or it was stopped
// at once) still shows, after a reload, with its reason and a Retry.
async function showUnansweredTurns(sid) {
  const users = [...document.querySelectorAll("#conversation .msg.user[data-execution]")];
  const open = users.map((u) => u.dataset.execution)
    .filter((id) => !state.finished.has(id) && !state.bubbles.has(id) && id !== state.running);
  await Promise.all(open.slice(-20).map(async (id) => {
    let execution;
    try { execution = (await api("GET", `/executions/${id}`)).data; } catch { return; }
    if (!state.session || state.session.id !== sid || state.finished.has(id)) return;
    if (execution.status === "failed" || execution.status === "cancelled") {
      const b = bubbleFor(id, users.find((u) => u.dataset.execution === id));
      endBubble(b, execution.status, execution.error || "");
    }
  }));
}

// --- messages on screen ------------------------------------------------------------------
function usageText(m) {
  const parts = [];
  if (m.model) parts.push(m.model);
  parts.push(`${m.token_count || 0} tokens (${m.prompt_tokens || 0} in, ${m.completion_tokens || 0} out)`);
  parts.push(money(m.cost));
  return parts.join(" · ");
}

function messageEl(m) {
  const node = el("article", `msg ${m.role}`);
  node.dataset.id = m.id;
  if (m.execution_id) node.dataset.execution = m.execution_id;
  const body = el("div", "body");
  if (m.role !== "assistant") {
    body.textContent = m.content;
    const meta = el("footer", "meta");
    meta.append(timeEl(m.created_at));
    node.append(body, meta);
    return node;
  }
  const chips = el("div", "chips");
  for (const call of m.tool_calls || []) {
    const result = (m.tool_results || []).find((r) => r.id === call.id);
    chips.append(chip(call.name, result ? (result.error || result.result) : ""));
  }
  renderMarkdown(body, m.content);
  node.append(chips, body);
  const b = {el: node, body, content: m.content, meta: null};
  fillMeta(b, m);
  if (m.metadata && m.metadata.incomplete) {   // a partial reply: stopped, or failed
    const kind = m.metadata.status === "cancelled" ? "cancelled" : "failed";
    node.classList.add(kind === "cancelled" ? "stopped" : "failed");
    node.insertBefore(noticeEl(kind, m.metadata.error || "", m.execution_id), b.meta);
  }
  return node;
}

// The line under a reply: time, model, tokens and cost; copy; thumbs up and down.
// (A later "Approve / Deny" of a parked tool call goes in the reply's .pending slot.)
function fillMeta(b, m) {
  const meta = b.meta || el("footer", "meta");
  meta.replaceChildren();
  if (m.created_at) meta.append(timeEl(m.created_at));
  meta.append(el("span", "usage", usageText(m)));
  const actions = el("span", "actions");
  actions.append(button("link copy-reply", "Copy", "Copy this reply", (e) => copy(b.content, e.target)));
  if (m.execution_id) actions.append(...thumbs(m.execution_id));
  meta.append(actions);
  if (!b.meta) { b.meta = meta; b.el.append(meta); }
}

function thumbs(executionId) {
  const make = (value, label) => {
    const t = button(`link thumb ${value > 0 ? "up" : "down"}`, undefined, label);
    t.append(thumbIcon(value < 0));
    t.setAttribute("aria-pressed", String(state.feedback.get(executionId) === value));
    t.onclick = async () => {
      try {
        await api("POST", `/chat/sessions/${state.session.id}/feedback`,
                  {execution_id: executionId, value});
        state.feedback.set(executionId, value);
        for (const other of t.parentNode.querySelectorAll(".thumb")) {
          other.setAttribute("aria-pressed", String(other === t));
        }
      } catch (err) { status(err.message, true); }
    };
    return t;
  };
  return [make(1, "Good reply"), make(-1, "Bad reply")];
}

function thumbIcon(down) {   // drawn, not an emoji: no emoji font needed
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M2 10h4v11H2zM8 21h9.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.9 10H14l.8-4.2A2 2 0 0 0 12.8 3.5L8 9.5z");
  if (down) svg.setAttribute("transform", "rotate(180)");
  svg.append(path);
  return svg;
}

function noticeEl(kind, reason, executionId) {
  const stopped = kind === "cancelled";
  const n = el("div", `notice ${stopped ? "stopped" : "failed"}`);
  n.append(el("span", "", stopped ? "Stopped." : `The reply failed: ${reason || "unknown error"}`));
  const text = state.userText.get(executionId);
  if (text !== undefined) {
    n.append(button("retry", "Retry", "Send this message again", () => {
      if (!state.running && !state.sending) sendText(text);
    }));
  }
  return n;
}

function chip(name, summary) {
  return el("span", "chip", summary ? `${name} → ${summary}` : `${name} …`);
}

// A tool call waiting for a person: what it would do, and Approve / Deny (the run resumes).
function approvalBox(b, ev) {
  const box = el("div", "approval");
  box.dataset.tool = ev.tool && ev.tool.id || "";
  const args = ev.tool ? JSON.stringify(ev.tool.arguments || {}) : "{}";
  box.append(el("div", "approval-text",
                `Approval needed: ${ev.tool ? ev.tool.name : "a tool"} ${args}`));
  const decide = (route) => async () => {
    box.querySelectorAll("button").forEach((x) => { x.disabled = true; });
    try {
      await api("POST", `/executions/${ev.execution_id}/${route}`, {});
      box.remove();
    } catch (err) {
      box.querySelectorAll("button").forEach((x) => { x.disabled = false; });
      status(err.message, true);
    }
  };
  box.append(button("approve", "Approve", "Run this tool call", decide("approve")),
             button("deny", "Deny", "Do not run it; the agent is told", decide("deny")));
  b.pending.replaceChildren(box);
}

function scrollToEnd() { const b = $("#conversation"); b.scrollTop = b.scrollHeight; }
function isAtEnd() { const b = $("#conversation"); return b.scrollHeight - b.scrollTop - b.clientHeight < 80; }

function bubbleFor(executionId, after) {
  let b = state.bubbles.get(executionId);
  if (!b) {
    const node = el("article", "msg assistant streaming");
    node.dataset.execution = executionId;
    const chips = el("div", "chips");
    const thinking = el("details", "thinking");
    thinking.hidden = true;
    thinking.append(el("summary", "", "Thinking"), el("div", "muted"));
    const body = el("div", "body");
    const pending = el("div", "pending");   // room for what a turn may ask of the person
    node.append(chips, thinking, body, pending);
    $("#conversation").querySelector(".placeholder")?.remove();
    const user = after || document.querySelector(
      `#conversation .msg.user[data-execution="${CSS.escape(executionId)}"]`);
    if (user) user.after(node); else $("#conversation").append(node);
    b = {el: node, chips, thinking, body, pending, content: "", seq: 0, tools: new Map(), meta: null};
    state.bubbles.set(executionId, b);
  }
  return b;
}

function endBubble(b, kind, reason) {
  b.el.classList.remove("streaming");
  b.ended = true;
  if (b.content) renderMarkdown(b.body, b.content); else b.body.replaceChildren();
  b.el.classList.toggle("failed", kind === "failed");
  b.el.classList.toggle("stopped", kind === "cancelled");
  b.el.querySelector(".notice")?.remove();
  b.el.insertBefore(noticeEl(kind, reason, b.el.dataset.execution), b.meta);
}

// A quiet line after the last message the session's summary covers (ids sort by time):
// the model sees the messages above it only as that summary.
function placeDivider() {
  const box = $("#conversation");
  box.querySelector(".compacted")?.remove();
  const until = state.coversUntil;
  if (!until) return;
  const shown = [...box.querySelectorAll(".msg[data-id]")];
  const covered = shown.filter((n) => n.dataset.id <= until);
  const line = el("div", "compacted", "earlier messages summarized");
  line.setAttribute("role", "separator");
  if (covered.length) covered[covered.length - 1].after(line);
  else if (shown.length) shown[0].before(line);   // the covered ones are not loaded yet
}

// One place handles every event, from the socket or SSE; seq makes it idempotent.
function onEvent(ev) {
  if (ev.type === "context_compacted") {
    if (state.session && (!ev.session_id || ev.session_id === state.session.id)) {
      state.coversUntil = ev.covers_until_message_id || null;
      const atEnd = isAtEnd();
      placeDivider();
      if (atEnd) scrollToEnd();
    }
    return;
  }
  const id = ev.execution_id;
  // a reply read from history is final; a streamed one still takes its terminal event
  if (!id || (state.finished.has(id) && !state.bubbles.has(id))) return;
  const b = bubbleFor(id);
  if (ev.seq && ev.seq <= b.seq) return;
  if (ev.seq) b.seq = ev.seq;
  const atEnd = isAtEnd();
  switch (ev.type) {
    case "execution": setRunning(id); break;
    case "thinking":
      b.thinking.hidden = false;
      b.thinking.querySelector("div").textContent += ev.content;
      break;
    case "approval_required": approvalBox(b, ev); break;
    case "tool_start": {
      b.pending.querySelector(".approval")?.remove();   // decided: the run goes on
      const c = chip(ev.name, "");
      b.tools.set(ev.id, c);
      b.chips.append(c);
      break;
    }
    case "tool_end": {
      const c = b.tools.get(ev.id) || b.chips.appendChild(chip(ev.name, ""));
      c.textContent = `${ev.name} → ${ev.summary || "done"}`;
      break;
    }
    case "content":
      setRunning(id);
      b.content += ev.content;
      b.body.textContent = b.content;     // plain text while streaming; markdown when done
      break;
    case "done": {
      b.content = ev.output && typeof ev.output.content === "string" ? ev.output.content : b.content;
      renderMarkdown(b.body, b.content);
      b.el.classList.remove("streaming");
      b.ended = true;
      const u = ev.token_usage || {};
      if (!b.meta) {
        fillMeta(b, {execution_id: id, created_at: new Date().toISOString(),
                     token_count: u.total_tokens, prompt_tokens: u.prompt_tokens,
                     completion_tokens: u.completion_tokens, cost: 0});
      }
      endRunning(id);
      break;
    }
    case "error":
      endBubble(b, ev.message === "cancelled" ? "cancelled" : "failed", ev.message);
      endRunning(id);
      break;
  }
  if (atEnd) scrollToEnd();
}

function onMessage(m) {
  if (state.messages.has(m.id)) return;
  if (!state.session || m.session_id !== state.session.id) return;
  state.messages.add(m.id);
  if (!state.newestId || m.id > state.newestId) state.newestId = m.id;
  if (m.role === "user" && m.execution_id) state.userText.set(m.execution_id, m.content);
  if (m.role === "assistant" && m.execution_id && state.bubbles.has(m.execution_id)) {
    const b = state.bubbles.get(m.execution_id);   // the stored reply of a streamed bubble
    b.el.dataset.id = m.id;
    b.content = m.content;
    state.finished.add(m.execution_id);
    if (!b.ended) {      // stored before its terminal event reached this page
      b.el.classList.remove("streaming");
      renderMarkdown(b.body, m.content);
    }
    fillMeta(b, m);
    if (m.metadata && m.metadata.incomplete && !b.el.querySelector(".notice")) {
      endBubble(b, m.metadata.status === "cancelled" ? "cancelled" : "failed", m.metadata.error);
    }
    return;
  }
  if (m.role === "user") {          // our own message, sent a moment ago: it has its id now
    const mine = document.querySelector("#conversation .msg.user.pending");
    if (mine && mine.querySelector(".body").textContent === m.content) {
      adopt(mine, m);
      return;
    }
  }
  if (m.role === "assistant" && m.execution_id) state.finished.add(m.execution_id);
  const atEnd = isAtEnd();
  $("#conversation").querySelector(".placeholder")?.remove();
  const node = messageEl(m);
  node.classList.add("arrived");
  // a user message goes before the reply bubble of its own turn, if that is already shown
  const bubble = m.execution_id && state.bubbles.get(m.execution_id);
  if (bubble && m.role === "user") bubble.el.before(node); else $("#conversation").append(node);
  if (atEnd) scrollToEnd();
}

function adopt(node, m) {
  node.classList.remove("pending");
  node.dataset.id = m.id;
  if (m.execution_id) node.dataset.execution = m.execution_id;
  state.messages.add(m.id);
  node.querySelector(".meta").replaceChildren(timeEl(m.created_at));
}

function setRunningUi(on) {
  $("#stop").hidden = !on;
  $("#send").disabled = on || state.sending;
}
function setRunning(id) { state.running = id; setRunningUi(true); }
function endRunning(id) {
  if (state.running === id) state.running = null;
  setRunningUi(Boolean(state.running));
  catchUp();        // the stored reply: its id, time, tokens and cost
  loadSessions();
}

// --- transport: SSE for our own sends, a WebSocket for everything else --------------------
async function connect() {
  const session = state.session && state.session.id;
  if (!session) return;
  let query = "";
  try {   // a ticket names the workspace (a socket cannot send X-Workspace-ID)
    const {data} = await api("POST", `/chat/sessions/${session}/ws-ticket`, {});
    query = `?ticket=${encodeURIComponent(data.ticket)}`;
  } catch { /* the cookie alone then */ }
  if (!state.session || state.session.id !== session || state.socket) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/chat/sessions/${session}/ws${query}`);
  state.socket = ws;
  ws.onopen = () => { state.socketOpen = true; if (!state.sending) status(""); catchUp(); };
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type === "message") onMessage(frame.message);
    else if (frame.type === "error" && !frame.execution_id) status(frame.message, true);
    else if (frame.type !== "pong") onEvent(frame);
  };
  ws.onclose = () => {
    const wasOpen = state.socketOpen;
    state.socketOpen = false;
    if (state.socket !== ws) return;
    state.socket = null;
    if (!state.session || state.session.id !== session) return;
    status(wasOpen ? "Reconnecting…" : "Live updates unavailable; replies still stream.");
    if (wasOpen) setTimeout(() => state.session && state.session.id === session && connect(), 1000);
  };
}

// Messages stored between the history load and the socket's subscription would be missed:
// read what came after the newest one on screen (duplicates are ignored by id).
async function catchUp() {
  if (!state.session) return;
  const sid = state.session.id;
  const path = state.newestId ? `&after=${state.newestId}` : "";
  try {
    const res = await api("GET", `/chat/sessions/${sid}/messages?limit=100${path}`);
    for (const m of res.data) onMessage(m);
  } catch { /* the socket brings them */ }
}

function pendingUserEl(content) {
  const node = el("article", "msg user pending");
  node.append(el("div", "body", content));
  const meta = el("footer", "meta");
  meta.append(el("span", "muted", "sending…"));
  node.append(meta);
  $("#conversation").querySelector(".placeholder")?.remove();
  $("#conversation").append(node);
  scrollToEnd();
  return node;
}

async function submit(event) {
  event.preventDefault();
  const input = $("#input");
  const content = input.value;
  if (!content.trim()) return;
  if (state.running || state.sending) { status("A reply is on its way: wait for it, or Stop it."); return; }
  input.value = "";
  saveDraft();
  await sendText(content);
}

// Send one message; with no chat open, start one with it. The text is given back to the
// box on any failure before the server stored it.
async function sendText(content) {
  if (!state.agent && !state.session) { restoreText(content); status("No agent to chat with.", true); return; }
  state.sending = true;
  $("#send").disabled = true;
  status("");
  let mine = null;
  try {
    if (!state.session) {
      const {data} = await api("POST", "/chat/sessions",
                               {agent_id: state.agent, title: autoTitle(content)});
      shownDraft = null;   // the new chat's draft was this message: it is sent, not kept
      try { sessionStorage.removeItem(draftKey()); } catch { /* storage unavailable */ }
      await openSession(data.id, {push: true, session: data});
      loadSessions();
    } else if (!state.session.title && !state.messages.size) {
      const title = autoTitle(content);
      api("PATCH", `/chat/sessions/${state.session.id}`, {title}).then(() => {
        state.session.title = title; showHeader(); loadSessions();
      }).catch(() => {});
    }
    mine = pendingUserEl(content);
    await streamTurn(content, mine);
  } catch (err) {
    if (mine && mine.classList.contains("pending")) { mine.remove(); restoreText(content); }
    else if (!mine) restoreText(content);
    status(`Not sent: ${err.message}`, true);
  } finally {
    state.sending = false;
    setRunningUi(Boolean(state.running));
  }
}

async function streamTurn(content, mine) {
  const sid = state.session.id;
  const res = await fetch(`/api/v1/chat/sessions/${sid}/messages/stream`, {
    method: "POST", credentials: "same-origin",
    headers: headers({"Accept": "text/event-stream"}), body: JSON.stringify({content}),
  });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); message = j.error.message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  let executionId = null;
  try {
    await readSse(res, (data, seq) => {
      if (data.type === "execution") {   // stored: from here on the turn is what runs
        executionId = data.execution_id;
        state.sending = false;
        state.userText.set(executionId, content);
        if (mine.classList.contains("pending") && data.user_message_id) {
          adopt(mine, {id: data.user_message_id, execution_id: executionId,
                       created_at: new Date().toISOString()});
          if (!state.newestId || data.user_message_id > state.newestId) state.newestId = data.user_message_id;
        }
      }
      if (state.session && state.session.id === sid) onEvent({...data, seq, execution_id: executionId});
    });
  } catch (err) {
    if (!executionId) throw err;
    // the stream broke mid-turn: the turn goes on; follow it again unless the socket does
    if (!state.socketOpen) followExecution(executionId).catch(() => {});
  }
}

async function followExecution(executionId) {
  const b = state.bubbles.get(executionId);
  const res = await fetch(`/api/v1/executions/${executionId}/stream?last_event_id=${b ? b.seq : 0}`, {
    credentials: "same-origin", headers: headers({"Accept": "text/event-stream"}),
  });
  if (!res.ok) return;
  await readSse(res, (data, seq) => onEvent({...data, seq, execution_id: executionId}));
}

async function readSse(res, handle) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let seq = 0, data = null;
      for (const line of frame.split("\n")) {
        if (line.startsWith("id:")) seq = Number(line.slice(3));
        if (line.startsWith("data:")) data = JSON.parse(line.slice(5));
      }
      if (data) handle(data, seq);
    }
  }
}

async function stop() {
  if (!state.running) return;
  try { await api("POST", `/executions/${state.running}/cancel`, {}); }
  catch (err) { status(err.message, true); }
}

// --- rename -----------------------------------------------------------------------------------
function rename() {
  if (!state.session) return;
  const title = $("#chat-title");
  const field = Object.assign(el("input", "rename-field"), {value: state.session.title || "", maxLength: 255});
  field.setAttribute("aria-label", "Chat title");
  title.hidden = true; $("#rename").hidden = true;
  title.after(field);
  field.focus(); field.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const value = field.value.trim();
    field.remove(); title.hidden = false; $("#rename").hidden = false;
    if (!save || value === (state.session.title || "")) { $("#rename").focus(); return; }
    try {
      const {data} = await api("PATCH", `/chat/sessions/${state.session.id}`, {title: value});
      state.session.title = data.title;
      showHeader();
      loadSessions();
    } catch (err) { status(err.message, true); }
    $("#rename").focus();
  };
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  field.addEventListener("blur", () => finish(true));
}

// --- wiring -----------------------------------------------------------------------------------
function sessionFromPath() {
  const m = location.pathname.match(/^\/s\/([^/]+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

document.addEventListener("DOMContentLoaded", async () => {
  const app = $(".app");
  if (!app) return;
  // a link of the old form /#<session id> opens that session's own URL
  if (location.pathname === "/" && /^#[0-9A-Za-z]{27}$/.test(location.hash)) {
    location.replace(`/s/${location.hash.slice(1)}`);
    return;
  }
  state.workspace = app.dataset.workspace;
  state.username = app.dataset.username;
  if (NARROW.matches) setSidebar(false);
  NARROW.addEventListener("change", () => {
    app.classList.remove("open", "collapsed");
    setSidebar(!NARROW.matches);
  });
  $("#toggle-sidebar").onclick = () => setSidebar(!sidebarOpen());
  $("#close-sidebar").onclick = () => { setSidebar(false); $("#toggle-sidebar").focus(); };
  $("#backdrop").onclick = () => setSidebar(false);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && NARROW.matches && sidebarOpen()) { setSidebar(false); $("#toggle-sidebar").focus(); }
  });
  $("#new-chat").onclick = () => newChat({push: true});
  $("#workspace").onchange = async (e) => {
    state.workspace = e.target.value;
    $("#all-switch").hidden = !canSeeAll();
    newChat({push: true});
    await loadAgents();
    showHeader();
    loadSessions();
  };
  $("#agent").onchange = (e) => {
    state.agent = e.target.value;
    try { localStorage.setItem(`promptrails:agent:${state.workspace}`, state.agent); } catch { /* */ }
    if (state.session && state.session.agent_id !== state.agent) newChat({push: true});
    else showHeader();
  };
  $("#show-all").onchange = (e) => { state.showAll = e.target.checked; loadSessions(); };
  let searchTimer = null;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.search = e.target.value.trim(); loadSessions(); }, 250);
  });
  $("#add-meta").onclick = addMetaRow;
  $("#new-session-form").onsubmit = createSession;
  $("#composer").onsubmit = submit;
  $("#stop").onclick = stop;
  $("#rename").onclick = rename;
  const input = $("#input");
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("#composer").requestSubmit(); }
  });
  input.addEventListener("input", saveDraft);
  $("#conversation").addEventListener("scroll", (e) => { if (e.target.scrollTop < 40) loadOlder(); });
  window.addEventListener("popstate", () => {
    const id = sessionFromPath();
    if (id) openSession(id).catch((err) => status(err.message, true));
    else newChat();
  });
  $("#all-switch").hidden = !canSeeAll();
  try {
    await loadAgents(app.dataset.agent);
    if (app.dataset.session) await openSession(app.dataset.session, {opening: true});
    else {
      newChat({opening: true});
      if (app.dataset.missing) status("That chat was not found in your workspaces.", true);
    }
    await loadSessions();
  } catch (err) { status(err.message, true); }
  app.dataset.ready = "1";  // started (tests wait for this before they click around)
});
