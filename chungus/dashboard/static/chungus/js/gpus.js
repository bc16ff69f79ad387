// The dashboard's "GPUs over time" chart: GET /api/fleet/gpu-history/?window=… every 10 s.
// Memory used per GPU (solid) and utilization where measured (dashed). Declared GPUs are
// not drawn: nothing measures them, so their lines would read 0 % when the truth is
// "unknown". Without a measured GPU the chart shows each measured host's memory and CPU.
"use strict";

(() => {
  const REFRESH_MS = 10_000;
  const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f59f00", "#c92a2a", "#5c7cfa"];

  let windowName = "1h";
  let loading = false;
  let chart = null;

  function timeLabel(iso) {
    const date = new Date(iso);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    if (windowName !== "7d") return time;
    return date.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
  }

  // Lines hide their points, so a value between two empty buckets gets a visible dot.
  function isolatedPoint(context) {
    const values = context.dataset.data;
    const i = context.dataIndex;
    const empty = (v) => v === null || v === undefined;
    return !empty(values[i]) && empty(values[i - 1]) && empty(values[i + 1]) ? 3 : 0;
  }

  const size = (mb) => (mb >= 1024 ? `${(mb / 1024).toFixed(0)} GB` : `${mb} MB`);
  const measured = (values) => values.some((v) => v !== null);

  // Two lines per series: memory solid, utilization dashed in the same colour.
  function datasets(series, name, busyKey, busyName) {
    const sets = [];
    series.forEach((s, index) => {
      const color = PALETTE[index % PALETTE.length];
      const line = { borderColor: color, backgroundColor: color, total: s.memory_total_mb };
      sets.push({ ...line, label: `${name(s)} memory`, data: s.memory_used_pct });
      if (measured(s[busyKey])) {
        sets.push({ ...line, label: `${name(s)} ${busyName}`, data: s[busyKey], borderDash: [5, 4] });
      }
    });
    return sets;
  }

  function describe(data, gpus, hosts) {
    const declared = data.gpus.filter((s) => s.declared).length;
    if (gpus.length) {
      return ["gpus", declared ? `${declared} declared GPUs not drawn: nothing measures them` : ""];
    }
    if (!hosts.length) {
      if (data.sample_seconds === 0) return ["empty", "sampling is off (CHUNGUS_INVENTORY_SAMPLE_SECONDS=0)"];
      return ["empty", `no samples in this window yet; one every ${data.sample_seconds} s`];
    }
    if (declared) return ["hosts", `only declared GPUs (${declared}), which nothing measures; host CPU and memory shown`];
    return ["hosts", "no GPUs in the inventory; host CPU and memory shown"];
  }

  function draw(data) {
    const gpus = data.gpus.filter((s) => !s.declared);
    const hosts = data.hosts.filter((s) => !s.declared);
    const [mode, note] = describe(data, gpus, hosts);
    const sets =
      mode === "gpus"
        ? datasets(gpus, (s) => `${s.node} GPU ${s.gpu}`, "utilization_pct", "utilization")
        : datasets(hosts, (s) => s.node, "cpu_pct", "CPU");
    chart.data = { labels: data.labels.map(timeLabel), datasets: sets };
    chart.options.plugins.legend.display = sets.length <= 16; // past that, tooltips name lines
    chart.update();
    const card = document.getElementById("gpu-card");
    card.dataset.mode = mode;
    document.getElementById("gpu-note").textContent = note;
  }

  function lineChart(canvas) {
    const tooltip = (item) => {
      const value = item.raw === null ? "–" : `${item.raw} %`;
      const total = item.dataset.label.endsWith(" memory") ? ` of ${size(item.dataset.total)}` : "";
      return `${item.dataset.label}: ${value}${total}`;
    };
    return new Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: [] },
      options: {
        interaction: { mode: "index", intersect: false },
        spanGaps: true,
        plugins: { tooltip: { callbacks: { label: tooltip } } },
        elements: { point: { radius: isolatedPoint, hitRadius: 6 }, line: { borderWidth: 2, tension: 0.25 } },
        scales: {
          x: { grid: { display: false }, ticks: { maxTicksLimit: 8, maxRotation: 0 } },
          y: { min: 0, max: 100, grid: { color: "#eef0f3" }, ticks: { maxTicksLimit: 6, callback: (v) => `${v} %` } },
        },
      },
    });
  }

  async function load() {
    if (loading) return;
    loading = true;
    const card = document.getElementById("gpu-card");
    try {
      draw(await Chungus.api(`/api/fleet/gpu-history/?window=${encodeURIComponent(windowName)}`));
      card.dataset.loaded = String(Number(card.dataset.loaded || 0) + 1);
    } catch (error) {
      document.getElementById("gpu-note").textContent = `GPU history unavailable: ${error.message}`;
    } finally {
      loading = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    chart = lineChart(document.getElementById("chart-gpus"));
    document.getElementById("window-select").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-window]");
      if (!button) return;
      windowName = button.dataset.window;
      load();
    });
    load();
    setInterval(() => document.hidden || load(), REFRESH_MS);
  });
})();
