// The playground: chat with /v1/chat/completions from the browser, streamed token by token
// (fetch + ReadableStream, parsing the server-sent events), with an API key kept per user in
// localStorage (pasted, or created in one click through /accounts/keys/playground/).
"use strict";

(() => {
  const { api, el, setStatus, storedKey, storeKey, forgetKey } = Chungus;
  const $ = (id) => document.getElementById(id);
  let history = [];
  let controller = null;

  function authHeaders() {
    return { Authorization: `Bearer ${storedKey()}`, "Content-Type": "application/json" };
  }

  function showKey(retries = 0) {
    const key = storedKey();
    $("key-present").hidden = !key;
    $("key-absent").hidden = Boolean(key);
    $("key-prefix").textContent = key ? key.slice(0, 10) + "…" : "";
    if (key) loadModels(retries);
    else $("model").replaceChildren(el("option", {}, "add a key first"));
    $("model").disabled = !key;
  }

  // A key just created reaches the gateway within its refresh interval (about a second),
  // so a fresh key's first 401 is retried a few times before it counts as refused.
  async function loadModels(retries = 0) {
    const select = $("model");
    try {
      const response = await fetch("/v1/models", { headers: authHeaders() });
      const data = await response.json();
      if (response.status === 401 && retries > 0) {
        setTimeout(() => loadModels(retries - 1), 500);
        return;
      }
      if (!response.ok) throw new Error(data.error?.message || response.statusText);
      const previous = select.value;
      select.replaceChildren(...data.data.map((m) => el("option", { value: m.id, selected: m.id === previous }, m.id)));
      if (!data.data.length) select.replaceChildren(el("option", { value: "" }, "this key may use no model"));
      setStatus($("key-status"), `${data.data.length} model(s) available to this key`, "ok");
      select.dataset.loaded = "true";
    } catch (error) {
      setStatus($("key-status"), `key not accepted: ${error.message}`, "bad");
    }
  }

  async function createKey() {
    setStatus($("key-status"), "creating…");
    try {
      const data = await api("/accounts/keys/playground/", {});
      storeKey(data.secret);
      setStatus($("key-status"), `created ${data.name}`, "ok");
      showKey(10);
    } catch (error) {
      setStatus($("key-status"), error.message, "bad");
    }
  }

  function addMessage(role, text = "") {
    $("conversation").querySelector(".empty")?.remove();
    const body = el("span", { class: "content" }, text);
    const node = el("div", { class: `message ${role}` }, el("span", { class: "role" }, role), body);
    $("conversation").append(node);
    node.scrollIntoView({ block: "end" });
    return { node, body };
  }

  function showStats({ ttft, tokens, rate, total }) {
    $("stat-ttft").textContent = ttft === null ? "–" : `${Math.round(ttft)} ms`;
    $("stat-tps").textContent = rate === null ? "–" : `${rate.toFixed(1)} tok/s`;
    $("stat-tokens").textContent = tokens ?? "–";
    $("stat-total").textContent = total === null ? "–" : `${(total / 1000).toFixed(2)} s`;
  }

  // Reads an SSE stream; calls onEvent with each parsed `data:` payload until [DONE].
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r?\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("data:")) continue;
        const payload = line.slice(5).trim();
        if (payload === "[DONE]") return;
        onEvent(JSON.parse(payload));
      }
    }
  }

  async function send(event) {
    event.preventDefault();
    const text = $("prompt").value.trim();
    if (!text || controller) return;
    if (!storedKey()) return setStatus($("key-status"), "add a key first", "bad");
    $("prompt").value = "";
    addMessage("user", text);
    history.push({ role: "user", content: text });
    const system = $("system").value.trim();
    const body = {
      model: $("model").value,
      messages: system ? [{ role: "system", content: system }, ...history] : history,
      temperature: Number($("temperature").value),
      max_tokens: Number($("max-tokens").value) || 256,
      stream: true,
      stream_options: { include_usage: true },
    };
    const reply = addMessage("assistant");
    const started = performance.now();
    let first = null;
    let chunks = 0;
    let usageTokens = null;
    controller = new AbortController();
    $("send").disabled = true;
    $("stop").disabled = false;
    showStats({ ttft: null, tokens: null, rate: null, total: null });
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST", headers: authHeaders(), body: JSON.stringify(body), signal: controller.signal,
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.error?.message || `${response.status} ${response.statusText}`);
      }
      await readEvents(response, (data) => {
        if (data.error) throw new Error(data.error.message);
        if (data.usage) usageTokens = data.usage.completion_tokens;
        const delta = data.choices?.[0]?.delta?.content;
        if (!delta) return;
        first ??= performance.now();
        chunks += 1;
        reply.body.textContent += delta;
        reply.node.dataset.chunks = String(chunks);
        reply.node.scrollIntoView({ block: "end" });
      });
      history.push({ role: "assistant", content: reply.body.textContent });
    } catch (error) {
      if (error.name !== "AbortError") addMessage("error", error.message);
      if (!reply.body.textContent) reply.node.remove();
      else history.push({ role: "assistant", content: reply.body.textContent });
    } finally {
      const ended = performance.now();
      const tokens = usageTokens ?? chunks;
      // Speed counts generation after the first token, so it is not skewed by queueing and prefill.
      const rate = first !== null && tokens > 1 && ended > first ? ((tokens - 1) * 1000) / (ended - first) : null;
      showStats({ ttft: first === null ? null : first - started, tokens, rate, total: ended - started });
      $("stats").dataset.done = String(Number($("stats").dataset.done || 0) + 1);
      controller = null;
      $("send").disabled = false;
      $("stop").disabled = true;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("create-key").addEventListener("click", createKey);
    $("use-key").addEventListener("click", () => {
      const key = $("paste-key").value.trim();
      if (!key) return;
      storeKey(key);
      $("paste-key").value = "";
      showKey();
    });
    $("forget-key").addEventListener("click", () => {
      forgetKey();
      setStatus($("key-status"), "key forgotten by this browser (it is still valid until revoked)");
      showKey();
    });
    $("temperature").addEventListener("input", () => ($("temperature-value").textContent = $("temperature").value));
    $("chat-form").addEventListener("submit", send);
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey) return;
      event.preventDefault();
      $("chat-form").requestSubmit();
    });
    $("stop").addEventListener("click", () => controller?.abort());
    $("clear").addEventListener("click", () => {
      history = [];
      $("conversation").replaceChildren(el("p", { class: "muted empty" }, "Send a message to start."));
    });
    showKey();
  });
})();
