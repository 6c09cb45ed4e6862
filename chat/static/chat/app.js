// The chat page: plain modern JS, no build step. Markdown is rendered with marked and
// sanitized with DOMPurify; raw HTML in messages is shown as text, never executed.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PAGE = 30;
const state = {
  workspace: null, agent: null, session: null, socket: null, socketOpen: false,
  oldestId: null, newestId: null, hasMore: false, loadingOlder: false,
  running: null,            // execution id of the turn in progress
  bubbles: new Map(),       // execution id -> {el, content, seq, done}
  messages: new Set(),      // ids of messages already on screen
  finished: new Set(),      // executions whose stored reply is on screen
};

function csrf() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method, credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(),
              "X-Workspace-ID": state.workspace},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const json = await res.json();
  if (!res.ok) throw new Error(json.error ? json.error.message : res.statusText);
  return json;
}

// --- markdown, safely ----------------------------------------------------------------
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => (
  {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
marked.use({renderer: {html(token) { return escapeHtml(token.raw || token.text || ""); }}});
function renderMarkdown(el, text) {
  el.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), {
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i, FORBID_TAGS: ["style", "img", "iframe", "form"],
  });
  for (const a of el.querySelectorAll("a")) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
}

function when(iso) {
  const d = new Date(iso);
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return d.toLocaleDateString();
}

function status(text) { $("#status").textContent = text || ""; }

// --- agents and sessions ---------------------------------------------------------------
async function loadAgents() {
  const {data} = await api("GET", "/agents?limit=100");
  const select = $("#agent");
  select.replaceChildren(...data.map((a) => new Option(a.name, a.id)));
  state.agent = select.value || null;
  await loadSessions();
}

async function loadSessions() {
  const list = $("#sessions");
  list.replaceChildren();
  if (!state.agent) return;
  const {data} = await api("GET", `/chat/sessions?limit=100&agent_id=${state.agent}`);
  for (const s of data) {
    const li = document.createElement("li");
    li.dataset.id = s.id;
    li.className = s.id === state.session ? "active" : "";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = s.title || "Untitled";
    const time = document.createElement("span");
    time.className = "muted small";
    time.textContent = when(s.updated_at);
    const del = document.createElement("button");
    del.className = "link danger";
    del.title = "Delete session";
    del.textContent = "×";
    del.onclick = async (e) => {
      e.stopPropagation();
      if (!confirm(`Delete “${title.textContent}”?`)) return;
      await api("DELETE", `/chat/sessions/${s.id}`);
      if (state.session === s.id) closeSession();
      loadSessions();
    };
    li.append(title, time, del);
    li.onclick = () => openSession(s.id);
    list.append(li);
  }
}

function addMetaRow() {
  const row = document.createElement("div");
  row.className = "meta-row";
  row.innerHTML = '<input placeholder="key" class="k"><input placeholder="value" class="v">';
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
    await loadSessions();
    openSession(data.id);
  } catch (err) { status(err.message); }
}

// --- the conversation -----------------------------------------------------------------
function closeSession() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  Object.assign(state, {session: null, socket: null, socketOpen: false, running: null,
                        oldestId: null, hasMore: false});
  state.bubbles.clear(); state.messages.clear(); state.finished.clear();
  $("#conversation").replaceChildren();
  $("#composer").hidden = true;
}

async function openSession(id) {
  closeSession();
  state.session = id;
  history.replaceState(null, "", `#${id}`);
  for (const li of document.querySelectorAll("#sessions li")) {
    li.classList.toggle("active", li.dataset.id === id);
  }
  $("#composer").hidden = false;
  await loadLatest();
  connect();
}

async function loadLatest() {
  const first = await api("GET", `/chat/sessions/${state.session}/messages?limit=1`);
  const total = first.meta.total;
  if (!total) { showPlaceholder(); return; }
  const lastPage = Math.ceil(total / PAGE);
  const page = await api("GET", `/chat/sessions/${state.session}/messages?limit=${PAGE}&page=${lastPage}`);
  let items = page.data;
  if (items.length < 10 && lastPage > 1) {
    const prev = await api("GET", `/chat/sessions/${state.session}/messages?limit=${PAGE}&page=${lastPage - 1}`);
    items = prev.data.concat(items);
  }
  state.hasMore = total > items.length;
  prependMessages(items);
  scrollToEnd();
}

function showPlaceholder() {
  const p = document.createElement("p");
  p.className = "placeholder";
  p.textContent = "Say hello. Try “what is 12*(3+4)?” or “what time is it in Asia/Tokyo?”";
  $("#conversation").append(p);
}

async function loadOlder() {
  if (!state.hasMore || state.loadingOlder || !state.oldestId) return;
  state.loadingOlder = true;
  const box = $("#conversation");
  const before = box.scrollHeight;
  try {
    const res = await api("GET", `/chat/sessions/${state.session}/messages?limit=${PAGE}&before=${state.oldestId}`);
    state.hasMore = res.meta.has_more;
    prependMessages(res.data);
    box.scrollTop += box.scrollHeight - before;
  } finally { state.loadingOlder = false; }
}

function prependMessages(items) {
  const box = $("#conversation");
  const nodes = [];
  for (const m of items) {
    if (state.messages.has(m.id)) continue;
    state.messages.add(m.id);
    if (m.role === "assistant" && m.execution_id) state.finished.add(m.execution_id);
    nodes.push(messageEl(m));
  }
  if (items.length) {
    state.oldestId = items[0].id;
    if (!state.newestId) state.newestId = items[items.length - 1].id;
  }
  box.prepend(...nodes);
}

function usageText(m) {
  return `${m.model || "model"} · ${m.prompt_tokens} prompt + ${m.completion_tokens} completion tokens · $${Number(m.cost).toFixed(6)}`;
}

function messageEl(m) {
  const el = document.createElement("article");
  el.className = `msg ${m.role}`;
  el.dataset.id = m.id;
  const body = document.createElement("div");
  body.className = "body";
  if (m.role === "assistant") {
    el.title = usageText(m);
    for (const call of m.tool_calls || []) {
      const result = (m.tool_results || []).find((r) => r.id === call.id);
      el.append(chip(call.name, result ? (result.error || result.result) : ""));
    }
    renderMarkdown(body, m.content);
    if (m.metadata && m.metadata.incomplete) {
      const note = document.createElement("div");
      note.className = "muted small";
      note.textContent = `(incomplete: ${m.metadata.error || m.metadata.status})`;
      el.append(body, note);
      return el;
    }
  } else {
    body.textContent = m.content;
  }
  el.append(body);
  return el;
}

function chip(name, summary) {
  const c = document.createElement("span");
  c.className = "chip";
  c.textContent = summary ? `${name} → ${summary}` : `${name} …`;
  return c;
}

function scrollToEnd() { const b = $("#conversation"); b.scrollTop = b.scrollHeight; }

function bubbleFor(executionId) {
  let b = state.bubbles.get(executionId);
  if (!b) {
    const el = document.createElement("article");
    el.className = "msg assistant streaming";
    const chips = document.createElement("div");
    chips.className = "chips";
    const thinking = document.createElement("details");
    thinking.className = "thinking";
    thinking.hidden = true;
    thinking.innerHTML = "<summary>Thinking</summary><div class='muted'></div>";
    const body = document.createElement("div");
    body.className = "body";
    el.append(chips, thinking, body);
    $("#conversation").querySelector(".placeholder")?.remove();
    $("#conversation").append(el);
    b = {el, chips, thinking, body, content: "", seq: 0, tools: new Map()};
    state.bubbles.set(executionId, b);
  }
  return b;
}

// One place handles every event, from the socket or SSE; seq makes it idempotent.
function onEvent(ev) {
  const id = ev.execution_id;
  if (!id || state.finished.has(id)) return;
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
    case "tool_start": {
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
    case "done":
      renderMarkdown(b.body, ev.output ? ev.output.content : b.content);
      b.el.classList.remove("streaming");
      b.el.title = `${ev.token_usage.prompt_tokens} prompt + ${ev.token_usage.completion_tokens} completion tokens · ${ev.time}s`;
      endRunning(id);
      break;
    case "error":
      b.el.classList.remove("streaming");
      b.el.classList.add("failed");
      renderMarkdown(b.body, b.content);
      b.body.append(Object.assign(document.createElement("div"),
        {className: "muted small", textContent: `(${ev.message})`}));
      endRunning(id);
      break;
  }
  if (atEnd) scrollToEnd();
}

function onMessage(m) {
  if (state.messages.has(m.id)) return;
  state.messages.add(m.id);
  if (!String(m.id).startsWith("local-") && (!state.newestId || m.id > state.newestId)) {
    state.newestId = m.id;
  }
  if (m.role === "assistant" && m.execution_id && state.bubbles.has(m.execution_id)) {
    const b = state.bubbles.get(m.execution_id);
    b.el.dataset.id = m.id;
    b.el.title = usageText(m);
    return;
  }
  if (m.role === "assistant" && m.execution_id) state.finished.add(m.execution_id);
  const atEnd = isAtEnd();
  $("#conversation").querySelector(".placeholder")?.remove();
  const el = messageEl(m);
  el.classList.add("arrived");
  // a user message goes before the reply bubble of its own turn, if that is already shown
  const bubble = m.execution_id && state.bubbles.get(m.execution_id);
  if (bubble) bubble.el.before(el); else $("#conversation").append(el);
  if (atEnd) scrollToEnd();
}

function isAtEnd() { const b = $("#conversation"); return b.scrollHeight - b.scrollTop - b.clientHeight < 80; }

function setRunning(id) { state.running = id; $("#stop").hidden = false; $("#send").disabled = true; }
function endRunning(id) {
  if (state.running === id) state.running = null;
  $("#stop").hidden = true; $("#send").disabled = false;
  loadSessions();
}

// --- transport: WebSocket, with SSE as the fallback ------------------------------------
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/chat/sessions/${state.session}/ws`);
  const session = state.session;
  state.socket = ws;
  ws.onopen = () => { state.socketOpen = true; status(""); catchUp(); };
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type === "message") onMessage(frame.message);
    else if (frame.type === "error" && !frame.execution_id) status(frame.message);
    else if (frame.type !== "pong") onEvent(frame);
  };
  ws.onclose = () => {
    const wasOpen = state.socketOpen;
    state.socketOpen = false;
    if (state.session !== session) return;
    status(wasOpen ? "Reconnecting…" : "Live updates unavailable; using SSE.");
    if (wasOpen) setTimeout(() => state.session === session && connect(), 1000);
  };
}

// Messages stored between the history load and the socket's subscription would be missed:
// read what came after the newest one on screen (duplicates are ignored by id).
async function catchUp() {
  const path = state.newestId ? `&after=${state.newestId}` : "";
  const res = await api("GET", `/chat/sessions/${state.session}/messages?limit=100${path}`);
  for (const m of res.data) onMessage(m);
}

async function send(event) {
  event.preventDefault();
  const input = $("#input");
  const content = input.value;
  if (!content.trim() || state.running) return;
  input.value = "";
  status("");
  if (state.socketOpen) {
    state.socket.send(JSON.stringify({type: "message", content}));
  } else {
    sendWithSse(content).catch((err) => status(err.message));
  }
}

async function sendWithSse(content) {
  const res = await fetch(`/api/v1/chat/sessions/${state.session}/messages/stream`, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept": "text/event-stream",
              "X-CSRFToken": csrf(), "X-Workspace-ID": state.workspace},
    body: JSON.stringify({content}),
  });
  if (!res.ok) { const j = await res.json(); throw new Error(j.error.message); }
  onMessage({id: `local-${Date.now()}`, role: "user", content, session_id: state.session});
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", executionId = null;
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
      if (!data) continue;
      if (data.type === "execution") executionId = data.execution_id;
      onEvent({...data, seq, execution_id: executionId});
    }
  }
}

async function stop() {
  if (!state.running) return;
  if (state.socketOpen) state.socket.send(JSON.stringify({type: "cancel", execution_id: state.running}));
  else await api("POST", `/executions/${state.running}/cancel`, {});
}

// --- wiring -----------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  if (!$(".app")) return;
  state.workspace = $("#workspace").value;
  $("#workspace").onchange = (e) => { state.workspace = e.target.value; closeSession(); loadAgents(); };
  $("#agent").onchange = (e) => { state.agent = e.target.value; closeSession(); loadSessions(); };
  $("#add-meta").onclick = addMetaRow;
  $("#new-session-form").onsubmit = createSession;
  $("#composer").onsubmit = send;
  $("#stop").onclick = stop;
  $("#input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#composer").requestSubmit(); }
  });
  $("#conversation").addEventListener("scroll", (e) => { if (e.target.scrollTop < 40) loadOlder(); });
  loadAgents()
    .then(() => {   // reopen the session named in the URL (a reload continues where it was)
      const id = location.hash.slice(1);
      if (id && document.querySelector(`#sessions li[data-id="${CSS.escape(id)}"]`)) openSession(id);
    })
    .catch((err) => status(err.message));
});
