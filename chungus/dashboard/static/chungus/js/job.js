// One job's page (its cancel form asks first: common.js). An MD job gets its energy,
// temperature and speed charts (GET energies.json every 5 s until the job ends, drawn with
// Chart.js; speed is the job's ns/day as each poll saw it) and a 3Dmol.js viewer of its trajectory (a multi-model PDB) with play/pause and a
// frame slider. The state, events, outputs and log refresh through htmx (_job_live.html).
"use strict";

(() => {
  const REFRESH_MS = 5_000;
  const FRAME_MS = 120;
  const FINAL = new Set(["succeeded", "failed", "cancelled"]);
  const COLOURS = { potential: "#3b5bdb", kinetic: "#e8590c", total: "#2b8a3e", temperature: "#c92a2a", speed: "#ae3ec9" };
  // energies.json has the CSV's columns under the md kind's names: find each by meaning.
  const COLUMNS = {
    time: /time/i,
    step: /step/i,
    potential: /potential/i,
    kinetic: /kinetic/i,
    total: /total/i,
    temperature: /temp/i,
    speed: /speed|ns.?day/i,
  };

  function column(columns, meaning) {
    const name = Object.keys(columns).find((key) => COLUMNS[meaning].test(key));
    return name === undefined ? null : columns[name];
  }

  function lineChart(id, yTitle) {
    return new Chart(document.getElementById(id), {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2, tension: 0.15 } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 10, boxHeight: 10 } } },
        scales: {
          x: {
            type: "linear",
            bounds: "data",
            title: { display: true, text: "time (ps)" },
            grid: { display: false },
            ticks: { maxTicksLimit: 8 },
          },
          y: { title: { display: true, text: yTitle }, grid: { color: "#eef0f3" }, ticks: { maxTicksLimit: 6 } },
        },
      },
    });
  }

  function series(label, xs, ys, colour) {
    const data = [];
    ys.forEach((y, i) => data.push({ x: xs[i], y }));
    return { label, data, borderColor: colour, backgroundColor: colour, spanGaps: true };
  }

  function charts() {
    const energy = lineChart("chart-energy", "kJ/mol");
    const temperature = lineChart("chart-temperature", "K");
    const speed = lineChart("chart-speed", "ns/day");
    temperature.options.plugins.legend.display = false;
    speed.options.plugins.legend.display = false;
    speed.options.elements.point.radius = 3;
    const measured = []; // energies.csv has no speed: the job's ns/day, as each poll saw it

    return function draw(columns, nsPerDay) {
      const time = column(columns, "time");
      const xs = time ?? column(columns, "step") ?? [];
      const label = time ? "time (ps)" : "step";
      for (const chart of [energy, temperature, speed]) {
        chart.options.scales.x.title.text = label;
        chart.options.scales.x.min = xs[0]; // the same span on every chart, speed's too
        chart.options.scales.x.max = xs[xs.length - 1];
      }
      const potential = column(columns, "potential");
      const kinetic = column(columns, "kinetic");
      let total = column(columns, "total");
      if (!total && potential && kinetic) {
        total = potential.map((p, i) => (p === null || kinetic[i] === null ? null : p + kinetic[i]));
      }
      energy.data.datasets = [
        potential && series("potential", xs, potential, COLOURS.potential),
        kinetic && series("kinetic", xs, kinetic, COLOURS.kinetic),
        total && series("total", xs, total, COLOURS.total),
      ].filter(Boolean);
      const kelvin = column(columns, "temperature");
      temperature.data.datasets = kelvin ? [series("temperature", xs, kelvin, COLOURS.temperature)] : [];
      const speedColumn = column(columns, "speed");
      const last = xs[xs.length - 1];
      if (typeof nsPerDay === "number" && last !== undefined && measured.at(-1)?.x !== last) {
        measured.push({ x: last, y: nsPerDay });
      }
      speed.data.datasets = speedColumn
        ? [series("ns/day", xs, speedColumn, COLOURS.speed)]
        : [{ label: "ns/day", data: measured, borderColor: COLOURS.speed, backgroundColor: COLOURS.speed, clip: false }];
      for (const chart of [energy, temperature, speed]) chart.update();
      return xs.length;
    };
  }

  function player(box, trajectoryUrl) {
    const note = document.getElementById("viewer-note");
    const play = document.getElementById("viewer-play");
    const slider = document.getElementById("viewer-frame");
    const frameLabel = document.getElementById("viewer-frame-label");
    let viewer = null;
    let frames = 0;
    let frame = 0;
    let playing = false;

    try {
      viewer = $3Dmol.createViewer(box, { backgroundColor: "white", antialias: true });
    } catch (error) {
      viewer = null;
    }
    if (!viewer) {
      note.textContent = "the 3D view needs WebGL, which this browser does not offer";
      return () => {};
    }

    async function show(index) {
      frame = index;
      await viewer.setFrame(index);
      viewer.render();
      slider.value = String(index);
      frameLabel.textContent = `${index + 1} / ${frames}`;
    }

    async function tick() {
      if (!playing) return;
      await show((frame + 1) % frames);
      setTimeout(tick, FRAME_MS);
    }

    function setPlaying(on) {
      playing = on && frames > 1;
      play.textContent = playing ? "Pause" : "Play";
      if (playing) tick();
    }

    play.addEventListener("click", () => setPlaying(!playing));
    slider.addEventListener("input", () => {
      setPlaying(false);
      show(Number(slider.value));
    });

    return async function load() {
      setPlaying(false);
      const response = await fetch(trajectoryUrl, { credentials: "same-origin" });
      const pdb = response.ok ? await response.text() : "";
      if (!pdb.trim()) {
        note.textContent = response.ok ? "no structure yet" : `trajectory unavailable (${response.status})`;
        return;
      }
      viewer.clear();
      viewer.addModelsAsFrames(pdb, "pdb");
      viewer.setStyle({}, { cartoon: { color: "spectrum" }, stick: { radius: 0.12, colorscheme: "grayCarbon" } });
      viewer.zoomTo();
      frames = viewer.getNumFrames() || 1;
      slider.max = String(frames - 1);
      slider.disabled = play.disabled = frames < 2;
      await show(Math.min(frame, frames - 1));
      note.textContent = `${frames} frame${frames === 1 ? "" : "s"}`;
      box.dataset.frames = String(frames);
      box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const views = document.getElementById("md-views");
    if (!views) return;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 11;
    Chart.defaults.color = "#6b7280";
    const draw = charts();
    const box = document.getElementById("viewer");
    const loadTrajectory = player(box, views.dataset.trajectory);
    const chartsNote = document.getElementById("charts-note");
    let state = views.dataset.state;
    let timer = null;

    async function refresh() {
      try {
        const data = await Chungus.api(views.dataset.energies);
        const rows = draw(data.columns || {}, data.ns_per_day);
        const speed = typeof data.ns_per_day === "number" ? ` · last measured ${data.ns_per_day.toFixed(1)} ns/day` : "";
        chartsNote.textContent = (rows ? `${rows} points from energies.csv` : "no energies yet") + speed;
        views.dataset.loaded = String(Number(views.dataset.loaded || 0) + 1);
        if (data.state !== state) {
          state = data.state;
          loadTrajectory().catch(() => {});
        }
      } catch (error) {
        chartsNote.textContent = `energies unavailable: ${error.message}`;
      }
      if (FINAL.has(state)) clearInterval(timer);
    }

    document.getElementById("viewer-reload").addEventListener("click", () => loadTrajectory());
    loadTrajectory().catch((error) => {
      document.getElementById("viewer-note").textContent = `trajectory unavailable: ${error.message}`;
    });
    refresh();
    if (!FINAL.has(state)) timer = setInterval(() => document.hidden || refresh(), REFRESH_MS);
  });
})();
