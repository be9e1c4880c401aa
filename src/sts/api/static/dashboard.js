// STS operator dashboard: fetches /dashboard/data with the admin key and draws one SVG line chart per
// panel. No framework, no external resource: the page works offline and behind any proxy.
"use strict";
(function () {
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
                  "#65a30d", "#9333ea"];
  const W = 600, H = 170, PAD_L = 52, PAD_R = 8, PAD_T = 8, PAD_B = 22;
  const $ = (id) => document.getElementById(id);
  const keyInput = $("key");
  // a key may come in the fragment (#key=…: never sent to a server); it is moved to this tab's storage
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("sts-dashboard-key", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  keyInput.value = sessionStorage.getItem("sts-dashboard-key") || "";
  keyInput.addEventListener("change", () => { sessionStorage.setItem("sts-dashboard-key", keyInput.value); load(); });
  $("range").addEventListener("change", load);
  $("refresh").addEventListener("click", load);
  setInterval(() => { if ($("auto").checked) load(); }, 15000);

  function fmt(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (unit === "ratio") return (v * 100).toFixed(v >= 0.995 || v === 0 ? 0 : 1) + "%";
    if (unit === "s") {
      if (v >= 3600) return (v / 3600).toFixed(1) + " h";
      if (v >= 60) return (v / 60).toFixed(1) + " min";
      if (v >= 1) return v.toFixed(1) + " s";
      return (v * 1000).toFixed(v >= 0.01 ? 0 : 1) + " ms";
    }
    const a = Math.abs(v);
    const s = a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e3 ? (v / 1e3).toFixed(1) + "k" :
      a >= 10 || v === Math.round(v) ? v.toFixed(0) : v.toFixed(2);
    return unit === "/s" ? s + "/s" : s;
  }

  function niceStep(raw) {
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  function label(labels) {
    const parts = Object.entries(labels || {}).filter(([k]) => k !== "__name__").map(([k, v]) => k + "=" + v);
    return parts.length ? parts.join(", ") : "all";
  }

  function el(name, attrs, text) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function chart(panel, start, end) {
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
                            "aria-label": panel.title, "data-panel": panel.id });
    const series = panel.series || [];
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const [, v] of s.points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const x = (t) => PAD_L + (W - PAD_L - PAD_R) * (t - start) / Math.max(1, end - start);
    if (!isFinite(lo)) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no data in this range"));
      return svg;
    }
    lo = Math.min(0, lo);
    if (panel.unit === "ratio") hi = Math.max(hi, 1);
    if (hi <= lo) hi = lo + 1;
    hi = lo + niceStep((hi - lo) / 4) * 4;  // round ticks: 0, 5, 10, 15, 20 rather than 0, 4.99, 9.97…
    const y = (v) => PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / (hi - lo));
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4;
      svg.appendChild(el("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
      svg.appendChild(el("text", { x: PAD_L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7280" },
                         fmt(v, panel.unit)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = start + (end - start) * i / 4;
      const d = new Date(t * 1000);
      svg.appendChild(el("text", { x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle",
                                   "font-size": 10, fill: "#6b7280" },
                         d.toLocaleTimeString([], end - start < 600 ? { hour: "2-digit", minute: "2-digit",
                                                     second: "2-digit" } : { hour: "2-digit", minute: "2-digit" })));
    }
    series.forEach((s, i) => {
      const pts = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      const color = COLORS[i % COLORS.length];
      if (pts.length === 1) {
        const [cx, cy] = pts[0].split(",");
        svg.appendChild(el("circle", { cx, cy, r: 2.5, fill: color }));
      } else {
        svg.appendChild(el("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.6,
                                         "vector-effect": "non-scaling-stroke" }));
      }
    });
    return svg;
  }

  function render(data) {
    const root = $("panels");
    root.replaceChildren();
    for (const panel of data.panels) {
      const card = document.createElement("section");
      card.className = "panel";
      card.id = "panel-" + panel.id;
      const h = document.createElement("h2");
      h.textContent = panel.title;
      const help = document.createElement("div");
      help.className = panel.error ? "err" : "help";
      help.textContent = panel.error || panel.help || "";
      card.append(h, help, chart(panel, data.start, data.end));
      const legend = document.createElement("div");
      legend.className = "legend";
      (panel.series || []).forEach((s, i) => {
        const span = document.createElement("span");
        span.style.setProperty("--c", COLORS[i % COLORS.length]);
        const last = s.points.length ? s.points[s.points.length - 1][1] : null;
        span.textContent = `${label(s.labels)}: ${fmt(last, panel.unit)}`;
        legend.appendChild(span);
      });
      card.appendChild(legend);
      root.appendChild(card);
    }
  }

  let busy = false;
  async function load() {
    if (busy) return;
    busy = true;
    const err = $("error");
    try {
      const minutes = $("range").value;
      const headers = keyInput.value ? { Authorization: "Bearer " + keyInput.value } : {};
      const resp = await fetch(`/dashboard/data?minutes=${encodeURIComponent(minutes)}`, { headers });
      const body = await resp.json();
      if (!resp.ok) throw new Error((body.error && body.error.message) || resp.statusText);
      render(body);
      err.style.display = "none";
      $("status").textContent = `source: ${body.source === "prometheus" ? "Prometheus" : "this process"} · ` +
        `updated ${new Date().toLocaleTimeString()}`;
      document.body.dataset.loaded = "1";
    } catch (e) {
      err.textContent = "Could not load the data: " + e.message;
      err.style.display = "block";
      document.body.dataset.loaded = "error";
    } finally {
      busy = false;
    }
  }
  load();
})();
