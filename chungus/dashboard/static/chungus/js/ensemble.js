// An ensemble's page: every replica's RMSD and native-contact curves on one chart each
// (GET ensemble.json every 10 s until the ensemble ends, drawn with Chart.js), the pooled
// summary and the replicas' table, and two 3Dmol.js viewers: the best replica's frame
// closest to the reference (superposed on it) beside the reference.
"use strict";

(() => {
  const REFRESH_MS = 10_000;
  const FINAL = new Set(["succeeded", "failed", "cancelled"]);
  const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c92a2a", "#ae3ec9", "#1098ad", "#f08c00", "#5c940d",
    "#d6336c", "#495057", "#7048e8", "#0ca678"];
  const el = (...args) => Chungus.el(...args);

  function lineChart(id, yTitle, yMax) {
    return new Chart(document.getElementById(id), {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 1.5, tension: 0.1 } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 10, boxHeight: 10 } } },
        scales: {
          x: { type: "linear", bounds: "data", title: { display: true, text: "time (ns)" }, grid: { display: false }, ticks: { maxTicksLimit: 6 } },
          y: { min: 0, max: yMax, title: { display: true, text: yTitle }, grid: { color: "#eef0f3" } },
        },
      },
    });
  }

  function datasets(replicas, key, best) {
    return replicas.filter((r) => r[key].length).map((r, i) => {
      const colour = PALETTE[i % PALETTE.length];
      const isBest = r.replica === best;
      return {
        label: `replica ${r.replica}${isBest ? " (best)" : ""}`,
        data: r[key].map((y, j) => ({ x: r.time_ns[j], y })),
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: isBest ? 3 : 1.5,
      };
    });
  }

  const fixed = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");

  function summary(data) {
    const s = data.summary || {};
    document.getElementById("summary-best").textContent = s.best_replica ? `job ${s.best_replica}` : "–";
    document.getElementById("summary-lowest").textContent = s.lowest_rmsd_nm === null || s.lowest_rmsd_nm === undefined ? "–" : `${fixed(s.lowest_rmsd_nm, 3)} nm`;
    document.getElementById("summary-below").textContent = s.analysed
      ? `${s.below_threshold} of ${s.analysed} replicas below ${s.threshold_nm} nm (${fixed(100 * s.fraction_below_threshold, 0)}%)`
      : "–";
    document.getElementById("summary-q").textContent = fixed(s.mean_final_q, 3);
    document.getElementById("summary-reference").textContent = data.reference || "–";
    const figures = new Map((s.per_replica || []).map((r) => [r.replica, r]));
    const body = document.querySelector("#ensemble-replicas tbody");
    body.replaceChildren(...(data.jobs || []).map((job) => {
      const f = figures.get(job.id) || {};
      return el("tr", { "data-replica": job.id },
        el("td", {}, el("a", { href: job.url }, `#${job.id}`)),
        el("td", {}, el("span", { class: `badge ${job.state}` }, job.state)),
        el("td", { class: "num" }, `${fixed(100 * job.progress, 0)}%`),
        el("td", { class: "num" }, fixed(f.min_rmsd_nm, 3)),
        el("td", { class: "num" }, fixed(f.final_q, 3)),
        el("td", { class: "num" }, String(job.preemptions)),
        el("td", { class: "num" }, String(job.retries)),
        el("td", { class: "small muted" }, job.summary));
    }));
  }

  function viewer(id) {
    try {
      return $3Dmol.createViewer(document.getElementById(id), { backgroundColor: "white", antialias: true });
    } catch (error) {
      return null;
    }
  }

  function show(view, box, note, pdb, colour, words) {
    if (!view) {
      note.textContent = "the 3D view needs WebGL, which this browser does not offer";
      return;
    }
    if (!pdb) {
      note.textContent = "no structure yet";
      return;
    }
    view.clear();
    view.addModel(pdb, "pdb");
    view.setStyle({}, { cartoon: { color: colour } });
    view.zoomTo();
    view.render();
    note.textContent = words;
    box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const views = document.getElementById("ensemble-views");
    if (!views) return;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 11;
    Chart.defaults.color = "#6b7280";
    const rmsd = lineChart("chart-rmsd", "RMSD (nm)");
    const q = lineChart("chart-q", "Q", 1);
    const best = viewer("viewer-best");
    const reference = viewer("viewer-reference");
    const note = document.getElementById("ensemble-note");
    let state = views.dataset.state;
    let shownBest = null;
    let timer = null;

    async function structures() {
      const data = await Chungus.api(views.dataset.structures);
      const words = data.replica ? `job ${data.replica}, frame ${data.frame + 1}, ${fixed(data.rmsd_nm, 3)} nm from the reference` : "";
      show(best, document.getElementById("viewer-best"), document.getElementById("best-note"), data.best, "spectrum", words);
      show(reference, document.getElementById("viewer-reference"), document.getElementById("reference-note"), data.reference, "spectrum", "protein atoms, coloured by residue as the best replica");
      shownBest = `${data.replica}:${data.frame}`;
    }

    async function refresh() {
      try {
        const data = await Chungus.api(views.dataset.analysis);
        const bestReplica = data.summary ? data.summary.best_replica : null;
        rmsd.data.datasets = datasets(data.replicas || [], "rmsd_nm", bestReplica);
        q.data.datasets = datasets(data.replicas || [], "q", bestReplica);
        rmsd.update();
        q.update();
        summary(data);
        const analysed = data.summary ? data.summary.analysed : 0;
        note.textContent = `${fixed(100 * (data.progress || 0), 0)}% done · ${analysed} of ${(data.jobs || []).length} replicas with frames` + (FINAL.has(data.state) ? "" : " · partial, refreshed every 10 s");
        views.dataset.loaded = String(Number(views.dataset.loaded || 0) + 1);
        state = data.state;
        // The structures once the first best replica shows, and again when the ensemble ends.
        if (bestReplica && (shownBest === null || FINAL.has(state))) await structures();
      } catch (error) {
        note.textContent = `analysis unavailable: ${error.message}`;
      }
      if (FINAL.has(state)) clearInterval(timer);
    }

    refresh();
    if (!FINAL.has(state)) timer = setInterval(() => document.hidden || refresh(), REFRESH_MS);
  });
})();
