// Helpers shared by every page: JSON calls with the CSRF token, DOM building, copy buttons,
// forms that ask first (data-confirm), and the API key this browser keeps for the signed-in
// user.
"use strict";

const Chungus = (() => {
  function cookie(name) {
    const match = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
  }

  function errorText(data, response) {
    const err = data && (data.error ?? data.detail ?? data.errors);
    if (typeof err === "string") return err;
    if (err && typeof err.message === "string") return err.message;
    if (Array.isArray(err)) return err.map((e) => e.msg || JSON.stringify(e)).join("; ");
    if (err) return JSON.stringify(err);
    return `${response.status} ${response.statusText}`;
  }

  // GET when body is undefined, else POST the body as JSON; resolves to the parsed answer.
  async function api(url, body) {
    const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = cookie("csrftoken");
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : null;
    if (!response.ok) throw new Error(errorText(data, response));
    if (data === null) throw new Error(`unexpected answer from ${url}`);
    return data;
  }

  // el("td", {class: "num"}, "3") — children are nodes or text, never parsed as HTML.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name in node && name !== "list") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setStatus(node, text, kind = "") {
    if (!node) return;
    node.textContent = text;
    node.className = "status" + (kind ? " " + kind : "");
  }

  // The API key the playground uses (and the dashboard, for live fleet status), per user.
  const user = document.querySelector('meta[name="chungus-user"]')?.content || "";
  const keyName = "chungus.apiKey." + user;
  const storedKey = () => (user ? localStorage.getItem(keyName) : null);
  const storeKey = (secret) => localStorage.setItem(keyName, secret);
  const forgetKey = () => localStorage.removeItem(keyName);

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea", { value: text, style: "position:fixed;opacity:0" });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const label = button.textContent;
    try {
      await copyText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => (button.textContent = label), 1500);
  });

  // A form with data-confirm (cancel a job, a batch) is sent only once the question is answered
  // yes; listened for on the document, so forms that htmx swaps in ask too.
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset?.confirm;
    if (message && !confirm(message)) event.preventDefault();
  });

  return { api, el, setStatus, storedKey, storeKey, forgetKey, user };
})();
