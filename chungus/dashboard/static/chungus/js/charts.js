// The dashboard's charts: GET /api/chart-data/?window=… every 10 s, drawn with Chart.js.
"use strict";

(() => {
  const REFRESH_MS = 10_000;
  const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f59f00", "#c92a2a", "#5c7cfa"];
  const TOTAL_LABELS = {
    requests: "Requests",
    errors: "Errors",
    error_rate: "Error rate",
    tokens: "Tokens",
    prompt_tokens: "Prompt tokens",
    completion_tokens: "Completion tokens",
    latency_p50_ms: "Latency p50",
    latency_p95_ms: "Latency p95",
    ttft_p50_ms: "TTFT p50",
  };
  // One line chart per series; latency draws p95 dashed beside p50.
  const LINE_CHARTS = {
    "chart-rpm": [["requests_per_minute", ""]],
    "chart-tps": [["tokens_per_second", ""]],
    "chart-latency": [["latency_p50_ms", " p50"], ["latency_p95_ms", " p95"]],
    "chart-ttft": [["ttft_p50_ms", ""]],
    "chart-errors": [["error_rate", ""]],
  };

  let windowName = "1h";
  let loading = false;
  const charts = {};

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 11;
  Chart.defaults.color = "#6b7280";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.position = "bottom";
  Chart.defaults.plugins.legend.labels.boxWidth = 10;
  Chart.defaults.plugins.legend.labels.boxHeight = 10;

  // Lines hide their points, so a value between two empty buckets gets a visible dot.
  function isolatedPoint(context) {
    const values = context.dataset.data;
    const i = context.dataIndex;
    const empty = (v) => v === null || v === undefined;
    return !empty(values[i]) && empty(values[i - 1]) && empty(values[i + 1]) ? 3 : 0;
  }

  function lineChart(id) {
    return new Chart(document.getElementById(id), {
      type: "line",
      data: { labels: [], datasets: [] },
      options: {
        interaction: { mode: "index", intersect: false },
        spanGaps: true,
        elements: { point: { radius: isolatedPoint, hitRadius: 6 }, line: { borderWidth: 2, tension: 0.25 } },
        scales: {
          x: { grid: { display: false }, ticks: { maxTicksLimit: 8, maxRotation: 0 } },
          y: { beginAtZero: true, grid: { color: "#eef0f3" }, ticks: { maxTicksLimit: 6 } },
        },
      },
    });
  }

  function barChart(id) {
    return new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { footer: (items) => `${items[0]?.raw?.tokens ?? 0} tokens` } },
        },
        parsing: { xAxisKey: "requests", yAxisKey: "label" },
        scales: {
          x: { beginAtZero: true, grid: { color: "#eef0f3" }, ticks: { precision: 0 } },
          y: { grid: { display: false } },
        },
      },
    });
  }

  function timeLabel(iso) {
    const date = new Date(iso);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    if (windowName !== "7d") return time;
    return date.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
  }

  // error_rate arrives as a fraction of requests; the chart shows percent.
  const scale = (series, values) =>
    series === "error_rate" ? values.map((v) => (v === null ? null : v * 100)) : values;

  function drawLines(data) {
    const labels = data.labels.map(timeLabel);
    for (const [id, parts] of Object.entries(LINE_CHARTS)) {
      const datasets = [];
      data.models.forEach((model, index) => {
        const color = PALETTE[index % PALETTE.length];
        for (const [series, suffix] of parts) {
          const values = data.series[series]?.[model];
          if (!values) continue;
          datasets.push({
            label: model + suffix,
            data: scale(series, values),
            borderColor: color,
            backgroundColor: color,
            borderDash: suffix === " p95" ? [5, 4] : [],
          });
        }
      });
      charts[id].data = { labels, datasets };
      charts[id].update();
    }
  }

  function drawTopKeys(data) {
    const rows = (data.top_keys || []).map((k) => ({
      label: k.key_name || `key ${k.key_id ?? "?"}`,
      requests: k.requests,
      tokens: k.tokens,
    }));
    charts["chart-keys"].data = {
      labels: rows.map((r) => r.label),
      datasets: [{ label: "requests", data: rows, backgroundColor: PALETTE[0], borderRadius: 3, maxBarThickness: 22 }],
    };
    charts["chart-keys"].update();
  }

  function formatTotal(name, value) {
    if (typeof value !== "number") return String(value ?? "–");
    if (name.endsWith("rate")) return (value * 100).toFixed(1) + " %";
    if (name.endsWith("_ms")) return Math.round(value).toLocaleString() + " ms";
    return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(2);
  }

  function drawTotals(data) {
    const { el } = Chungus;
    const totals = { ...(data.totals || {}) };
    if (totals.requests && typeof totals.errors === "number" && !("error_rate" in totals)) {
      totals.error_rate = totals.errors / totals.requests;
    }
    const entries = Object.entries(totals).filter(([, v]) => v === null || typeof v !== "object");
    document.getElementById("totals").replaceChildren(
      ...entries.map(([name, value]) =>
        el("div", { class: "tile", "data-total": name },
          el("div", { class: "label" }, TOTAL_LABELS[name] || name.replaceAll("_", " ")),
          el("div", { class: "value" }, formatTotal(name, value))),
      ),
    );
  }

  async function load() {
    if (loading) return;
    loading = true;
    const note = document.getElementById("charts-updated");
    try {
      const data = await Chungus.api(`/api/chart-data/?window=${encodeURIComponent(windowName)}`);
      drawLines(data);
      drawTopKeys(data);
      drawTotals(data);
      note.textContent = `updated ${new Date().toLocaleTimeString()} · refreshes every 10 s`;
      note.dataset.loaded = String(Number(note.dataset.loaded || 0) + 1);
    } catch (error) {
      note.textContent = `charts unavailable: ${error.message}`;
    } finally {
      loading = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const id of Object.keys(LINE_CHARTS)) charts[id] = lineChart(id);
    charts["chart-keys"] = barChart("chart-keys");
    document.getElementById("window-select").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-window]");
      if (!button) return;
      windowName = button.dataset.window;
      for (const b of button.parentElement.children) b.classList.toggle("active", b === button);
      load();
    });
    load();
    setInterval(() => document.hidden || load(), REFRESH_MS);
  });
})();
