// A small browser runtime for the tests: the contract of @promptrails/ai-chat 0.9's
// src/browser/runtime.ts (paths, headers, bodies, localStorage, 401 refresh, 403 reset),
// written here for the tests, not copied from it.
"use strict";

class ChatError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function createRuntime({ apiKey, agentId, baseUrl, storageKey }) {
  const api = `${baseUrl.replace(/\/+$/, "")}/api/v1`;
  const key = storageKey || `promptrails-chat-widget:default:${agentId}`;
  let token = "";
  let tokenExpiresAt = 0;
  let sessionId = "";
  let resumeToken = "";

  async function failure(response) {
    const payload = await response.json().catch(() => ({}));
    const message = (payload.error && payload.error.message) || `Request failed (${response.status}).`;
    return new ChatError(message, response.status);
  }

  async function ensureToken(force = false) {
    if (!force && token && Date.now() < tokenExpiresAt - 30000) return token;
    let response;
    try {
      response = await fetch(`${api}/browser/chat/token`, {
        method: "POST", mode: "cors", credentials: "omit",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-API-Key": apiKey },
        body: JSON.stringify({ agent_id: agentId }),
      });
    } catch (error) {
      throw new ChatError(String(error && error.message), 0);
    }
    if (!response.ok) throw await failure(response);
    const payload = await response.json();
    token = payload.data.access_token;
    tokenExpiresAt = Date.now() + (Number(payload.data.expires_in) || 900) * 1000;
    return token;
  }

  function persist() {
    if (sessionId && resumeToken) {
      localStorage.setItem(key, JSON.stringify({ sessionId, resumeToken, lastActivityAt: Date.now() }));
    }
  }

  function clear() {
    sessionId = "";
    resumeToken = "";
    localStorage.removeItem(key);
  }

  async function request(path, options = {}, retry = true) {
    const bearer = await ensureToken();
    const headers = { Accept: "application/json", Authorization: `Bearer ${bearer}` };
    if (sessionId && resumeToken) headers["X-Chat-Resume-Token"] = resumeToken;
    if (options.body) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`${api}${path}`, { mode: "cors", credentials: "omit", ...options, headers });
    } catch (error) {
      throw new ChatError(String(error && error.message), 0);
    }
    if (response.status === 401 && retry) {
      await ensureToken(true);
      return request(path, options, false);
    }
    if (!response.ok) throw await failure(response);
    return response.status === 204 ? {} : response.json();
  }

  async function ensureSession() {
    if (sessionId && resumeToken) return sessionId;
    const payload = await request("/browser/chat/sessions", {
      method: "POST",
      body: JSON.stringify({ agent_id: agentId, title: "Website chat", metadata: { channel: "browser_widget" } }),
    });
    sessionId = payload.data.id;
    resumeToken = payload.data.resume_token;
    persist();
    return sessionId;
  }

  async function hydrate() {
    const saved = JSON.parse(localStorage.getItem(key) || "null");
    if (!saved || !/^[0-9A-Za-z]{27}$/.test(saved.sessionId) || (saved.resumeToken || "").length < 32) return [];
    sessionId = saved.sessionId;
    resumeToken = saved.resumeToken;
    try {
      return await listMessages();
    } catch (error) {
      if (error.status === 403 || error.status === 404) {
        clear();
        return [];
      }
      throw error;
    }
  }

  async function listMessages() {
    const payload = await request(`/browser/chat/sessions/${encodeURIComponent(sessionId)}/messages?limit=50`);
    persist();
    return payload.data
      .filter((m) => m.role === "user" || m.role === "assistant")
      .map((m) => ({ role: m.role, content: m.content, executionId: (m.metadata || {}).execution_id }));
  }

  async function openStream(content, context, idempotencyKey, force) {
    const bearer = await ensureToken(force);
    return fetch(`${api}/browser/chat/sessions/${encodeURIComponent(sessionId)}/messages/stream`, {
      method: "POST", mode: "cors", credentials: "omit",
      headers: {
        Accept: "text/event-stream", "Content-Type": "application/json",
        Authorization: `Bearer ${bearer}`, "X-Chat-Resume-Token": resumeToken,
      },
      body: JSON.stringify({ content, ...(context ? { client_context: context } : {}), idempotency_key: idempotencyKey }),
    });
  }

  async function* send(content, context) {
    await ensureSession();
    const idempotencyKey = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    let response = await openStream(content, context, idempotencyKey, false);
    if (response.status === 401) response = await openStream(content, context, idempotencyKey, true);
    if (!response.ok || !response.body) throw await failure(response);
    persist();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    while (true) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop() || "";
      for (const block of blocks) {
        const name = (block.match(/^event:\s*(.+)$/m) || [])[1];
        const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (name && data) yield { event: name.trim(), data: JSON.parse(data) };
      }
      if (done) break;
    }
    persist();
  }

  async function feedback(executionId, value) {
    await request(`/browser/chat/sessions/${encodeURIComponent(sessionId)}/feedback`, {
      method: "POST", body: JSON.stringify({ execution_id: executionId, value }),
    });
  }

  async function newSession() {
    const previous = { sessionId, resumeToken };
    clear();
    if (!previous.sessionId) return;
    const bearer = await ensureToken();
    await fetch(`${api}/browser/chat/sessions/${encodeURIComponent(previous.sessionId)}`, {
      method: "DELETE", mode: "cors", credentials: "omit",
      headers: { Authorization: `Bearer ${bearer}`, "X-Chat-Resume-Token": previous.resumeToken },
    }).catch(() => {});
  }

  return {
    get sessionId() { return sessionId; },
    get bearer() { return token; },
    hydrate, listMessages, send, feedback, newSession, ensureToken,
  };
}

window.createRuntime = createRuntime;
