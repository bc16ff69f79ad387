// The dashboard's GPU timeline: GET /api/fleet/gpu-holders/?hours=6 every 15 s, drawn with
// Chart.js as floating horizontal bars, one row per GPU, one colour per holder. A click on a
// job's bar opens its page.
"use strict";

(() => {
  const REFRESH_MS = 15_000;
  const HOURS = 6;
  const ROW_PX = 30;
  const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f59f00", "#c92a2a", "#5c7cfa",
    "#0ca678", "#d6336c", "#7048e8", "#74b816"];

  let chart = null;
  let loading = false;

  const rowLabel = (node, gpu) => `${node} · GPU ${gpu}`;
  const holderLabel = (i) => (i.holder === "job" ? `job #${i.name}` : i.name);
  const clock = (seconds) =>
    new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  // A holder keeps its colour from one refresh to the next (a hash of its name), unless
  // another holder on the chart has that colour already: then the next free one.
  function colours(labels) {
    const taken = new Map();
    for (const label of [...labels].sort()) {
      let hash = 0x811c9dc5; // FNV-1a
      for (const char of label) hash = Math.imul(hash ^ char.codePointAt(0), 0x01000193) >>> 0;
      let index = hash % PALETTE.length;
      const used = new Set(taken.values());
      for (let tries = 0; used.has(PALETTE[index]) && tries < PALETTE.length; tries++) {
        index = (index + 1) % PALETTE.length;
      }
      taken.set(label, PALETTE[index]);
    }
    return taken;
  }

  function datasets(data) {
    const byHolder = new Map();
    for (const i of data.intervals) {
      const label = holderLabel(i);
      if (!byHolder.has(label)) byHolder.set(label, { holder: i.holder, name: i.name, bars: [] });
      byHolder.get(label).bars.push({ x: [i.started, i.ended ?? data.end], y: rowLabel(i.node, i.gpu) });
    }
    const colour = colours(byHolder.keys());
    return [...byHolder.entries()].map(([label, h]) => ({
      label,
      data: h.bars,
      holder: h.holder,
      name: h.name,
      backgroundColor: colour.get(label),
      borderColor: colour.get(label),
      borderWidth: 1,
      borderSkipped: false,
      borderRadius: 3,
      barPercentage: 0.7,
      categoryPercentage: 1,
      grouped: false,
    }));
  }

  function tooltip(item) {
    const [from, to] = item.raw.x;
    const minutes = Math.round((to - from) / 60);
    return `${item.dataset.label}: ${clock(from)}–${clock(to)} (${minutes} min)`;
  }

  function open(event, elements) {
    const hit = elements[0];
    if (!hit) return;
    const set = chart.data.datasets[hit.datasetIndex];
    if (set.holder === "job") window.location.href = `/jobs/${encodeURIComponent(set.name)}/`;
  }

  function timeline(canvas) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        onClick: open,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 10, boxHeight: 10 } },
          tooltip: { callbacks: { label: tooltip } },
        },
        scales: {
          x: { type: "linear", grid: { color: "#eef0f3" }, ticks: { stepSize: 3600, callback: (v) => clock(v) } },
          y: { grid: { display: false } },
        },
      },
    });
  }

  function draw(data) {
    const labels = data.gpus.map((g) => rowLabel(g.node, g.gpu));
    const sets = datasets(data);
    document.getElementById("gpu-timeline-box").style.height = `${Math.max(2, labels.length) * ROW_PX + 70}px`;
    chart.data = { labels, datasets: sets };
    chart.options.scales.x.min = data.start;
    chart.options.scales.x.max = data.end;
    chart.options.plugins.legend.display = sets.length > 0 && sets.length <= 16;
    chart.update();
    const note = !labels.length
      ? "no GPUs in the inventory"
      : sets.length
        ? `${data.intervals.length} holds in the last ${HOURS} h`
        : `nothing held a GPU in the last ${HOURS} h`;
    document.getElementById("gpu-holders-note").textContent = note;
  }

  async function load() {
    if (loading) return;
    loading = true;
    const panel = document.getElementById("gpu-panel");
    try {
      draw(await Chungus.api(`/api/fleet/gpu-holders/?hours=${HOURS}`));
      panel.dataset.loaded = String(Number(panel.dataset.loaded || 0) + 1);
    } catch (error) {
      document.getElementById("gpu-holders-note").textContent = `GPU timeline unavailable: ${error.message}`;
    } finally {
      loading = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    chart = timeline(document.getElementById("chart-gpu-holders"));
    load();
    setInterval(() => document.hidden || load(), REFRESH_MS);
  });
})();
