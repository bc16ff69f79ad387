// Models and backends on the dashboard: add and remove through the JSON API; the table itself
// is server-rendered and refreshed by htmx; live in-flight counts and queue depths come from
// GET /api/fleet/status, with the operator's session (no key is kept in the browser for it).
"use strict";

(() => {
  const { api, setStatus } = Chungus;
  let lastStatus = null;

  function refreshTable() {
    htmx.trigger("#backends", "refresh");
  }

  async function addBackend(event) {
    event.preventDefault();
    const form = event.target;
    const status = document.getElementById("model-status");
    const values = Object.fromEntries(new FormData(form));
    const body = {
      name: values.name.trim(),
      url: values.url.trim(),
      engine: values.engine,
      upstream_model: values.upstream_model.trim(),
      max_concurrency: Number(values.max_concurrency) || 64,
      routing: values.routing || null,
    };
    setStatus(status, "adding…");
    try {
      await api("/api/models/create/", body);
      setStatus(status, `Added a backend for ${body.name}.`, "ok");
      form.reset();
      refreshTable();
    } catch (error) {
      setStatus(status, error.message, "bad");
    }
  }

  async function remove(button) {
    const { name, removeModel, removeBackend, modelId } = button.dataset;
    const [question, url] = removeModel
      ? [`Remove the model ${name} and all its backends?`, `/api/models/${removeModel}/delete/`]
      : [`Remove the backend ${name}?`, `/api/models/${modelId}/backends/${removeBackend}/delete/`];
    if (!confirm(question)) return;
    try {
      await api(url, {});
      refreshTable();
    } catch (error) {
      alert(`Could not remove ${name}: ${error.message}`);
    }
  }

  function applyStatus() {
    if (!lastStatus) return;
    for (const model of lastStatus.models || []) {
      const queue = document.querySelector(`[data-queue="${CSS.escape(model.name)}"]`);
      if (queue) queue.textContent = model.queue_depth;
      for (const backend of model.backends || []) {
        const cell = document.querySelector(`[data-inflight="${backend.id}"]`);
        if (cell) cell.textContent = backend.in_flight;
      }
    }
  }

  async function loadStatus() {
    const note = document.getElementById("fleet-note");
    try {
      const response = await fetch("/api/fleet/status", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`fleet status answered ${response.status}`);
      lastStatus = await response.json();
      note.textContent = `live load at ${new Date().toLocaleTimeString()}`;
      applyStatus();
    } catch (error) {
      note.textContent = `live load unavailable (${error.message}); health is from the last check`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("model-form").addEventListener("submit", addBackend);
    document.getElementById("backends").addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove-model], [data-remove-backend]");
      if (button) remove(button);
    });
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target.id === "backends") applyStatus();
    });
    loadStatus();
    setInterval(() => document.hidden || loadStatus(), 10_000);
  });
})();
