// Deployments on the dashboard: deploy, stop and start through the JSON API (/api/deployments/…);
// the table itself is server-rendered and refreshed by htmx.
"use strict";

(() => {
  const { api, setStatus } = Chungus;
  const intOrNull = (value) => (String(value ?? "").trim() === "" ? null : Number(value));
  const path = (name, action) => `/api/deployments/${encodeURIComponent(name)}/${action}/`;

  function refreshTable() {
    htmx.trigger("#deployments", "refresh");
  }

  async function deploy(event) {
    event.preventDefault();
    const form = event.target;
    const status = document.getElementById("deploy-status");
    const values = Object.fromEntries(new FormData(form));
    const body = {
      name: values.name.trim(),
      source: values.source.trim(),
      engine: values.engine,
      launcher: values.launcher,
      gpus_per_replica: intOrNull(values.gpus_per_replica),
      always_warm: values.always_warm === "on",
      idle_timeout_s: intOrNull(values.idle_timeout_s) ?? 0,
    };
    setStatus(status, "deploying…");
    try {
      const data = await api("/api/deployments/", body);
      setStatus(status, `${data.deployment.name}: ${data.deployment.state_reason}.`, "ok");
      form.reset();
      refreshTable();
    } catch (error) {
      setStatus(status, error.message, "bad");
    }
  }

  async function act(button) {
    const { name, deploymentAction: action } = button.dataset;
    if (action === "stop" && !confirm(`Stop ${name}? It finishes its requests in flight, then frees its GPUs.`)) return;
    const status = document.getElementById("deployments-status");
    button.disabled = true;
    try {
      await api(path(name, action), {});
      setStatus(status, `${action === "stop" ? "Stopping" : "Starting"} ${name}.`, "ok");
      refreshTable();
    } catch (error) {
      setStatus(status, `${name}: ${error.message}`, "bad");
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("deploy-form").addEventListener("submit", deploy);
    document.getElementById("deployments").addEventListener("click", (event) => {
      const button = event.target.closest("[data-deployment-action]");
      if (button) act(button);
    });
  });
})();
