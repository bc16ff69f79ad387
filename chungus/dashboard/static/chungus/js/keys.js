// API keys on the dashboard: list, create (secret shown once), edit limits, revoke — all via
// the JSON API (/api/keys/…).
"use strict";

(() => {
  const { api, el, setStatus } = Chungus;
  const PRIORITIES = ["interactive", "batch", "background"];

  const intOrNull = (value) => (String(value ?? "").trim() === "" ? null : Number(value));
  const modelList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function keyState(key) {
    if (!key.is_active) return "revoked";
    if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
    return "active";
  }

  function limitInput(key, field) {
    return el("input", { type: "number", min: "1", name: field, value: key[field] ?? "", placeholder: "∞" });
  }

  function keyRow(key) {
    const state = keyState(key);
    const priority = el("select", { name: "priority" },
      PRIORITIES.map((p) => el("option", { value: p, selected: p === key.priority }, p)));
    const row = el("tr", { "data-key-id": key.id },
      el("td", {}, key.name),
      el("td", {}, el("code", {}, key.prefix + "…")),
      el("td", {}, key.owner ?? "—", key.scope === "admin" ? [" ", el("span", { class: "badge" }, "admin")] : null),
      el("td", {}, limitInput(key, "rpm")),
      el("td", {}, limitInput(key, "rph")),
      el("td", {}, limitInput(key, "tpm")),
      el("td", {}, priority),
      el("td", {}, (key.allowed_models || []).join(", ") || "all"),
      el("td", {}, key.expires_at ? new Date(key.expires_at).toLocaleString() : "never"),
      el("td", {}, el("span", { class: `badge ${state === "active" ? "healthy" : state}` }, state)),
      el("td", { class: "right" },
        el("button", { type: "button", class: "secondary small", onclick: () => saveLimits(key, row) }, "Save"),
        " ",
        key.is_active
          ? el("button", { type: "button", class: "danger small", onclick: () => revoke(key) }, "Revoke")
          : null),
    );
    return row;
  }

  async function loadKeys() {
    const body = document.querySelector("#keys-table tbody");
    try {
      const data = await api("/api/keys/");
      const rows = data.keys.map(keyRow);
      body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 11, class: "muted" }, "No keys yet."))]));
    } catch (error) {
      setStatus(document.getElementById("keys-status"), `keys unavailable: ${error.message}`, "bad");
    }
  }

  async function saveLimits(key, row) {
    const value = (name) => row.querySelector(`[name="${name}"]`).value;
    const body = { rpm: intOrNull(value("rpm")), rph: intOrNull(value("rph")), tpm: intOrNull(value("tpm")), priority: value("priority") };
    const status = document.getElementById("keys-status");
    try {
      await api(`/api/keys/${key.id}/update/`, body);
      setStatus(status, `Saved the limits of ${key.name}.`, "ok");
      loadKeys();
    } catch (error) {
      setStatus(status, `${key.name}: ${error.message}`, "bad");
    }
  }

  async function revoke(key) {
    if (!confirm(`Revoke ${key.name}? Clients using it are refused at once.`)) return;
    const status = document.getElementById("keys-status");
    try {
      await api(`/api/keys/${key.id}/update/`, { is_active: false });
      setStatus(status, `Revoked ${key.name}.`, "ok");
      loadKeys();
    } catch (error) {
      setStatus(status, `${key.name}: ${error.message}`, "bad");
    }
  }

  async function createKey(event) {
    event.preventDefault();
    const form = event.target;
    const values = Object.fromEntries(new FormData(form));
    const status = document.getElementById("key-status");
    const body = {
      name: values.name.trim(),
      rpm: intOrNull(values.rpm),
      rph: intOrNull(values.rph),
      tpm: intOrNull(values.tpm),
      allowed_models: modelList(values.allowed_models),
      priority: values.priority,
      expires_at: values.expires_at ? new Date(values.expires_at).toISOString() : null,
      owner: values.owner.trim() || null,
      scope: values.scope || "inference",
    };
    setStatus(status, "creating…");
    try {
      const data = await api("/api/keys/create/", body);
      document.getElementById("new-secret-value").textContent = data.secret;
      document.getElementById("new-secret").hidden = false;
      setStatus(status, `Created ${data.key?.name ?? body.name}.`, "ok");
      form.reset();
      loadKeys();
    } catch (error) {
      setStatus(status, error.message, "bad");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("key-form").addEventListener("submit", createKey);
    loadKeys();
  });
})();
