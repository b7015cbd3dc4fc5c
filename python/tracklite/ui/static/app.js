/* tracklite web UI: a single-page app over the server's JSON API. No build step, no network
 * beyond this server. Routes live in the URL hash (#/experiments/1, #/runs/<id>, ...). */
"use strict";
(() => {
  const MLFLOW = "api/2.0/mlflow/";
  const TRACKLITE = "api/2.0/tracklite/";
  const ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts";
  const STAGES = ["None", "Staging", "Production", "Archived"];
  const COLORS = ["#2458d6", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#a07a00", "#5c5f66",
    "#d6336c", "#1098ad", "#74b816", "#ae3ec9"];
  const MAX_CHARTS = 24;
  const app = document.getElementById("app");

  // ---------------------------------------------------------------- helpers

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, { params, body } = {}) {
    let url = path;
    if (params) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
        else q.append(k, v);
      }
      const s = q.toString();
      if (s) url += "?" + s;
    }
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, "NETWORK_ERROR", `The server did not answer (${e.message}). Is tracklite server still running?`);
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : {};
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, (data && data.error_code) || `HTTP_${resp.status}`,
        (data && data.message) || text || resp.statusText);
    }
    return data;
  }
  const mlflow = (method, path, opts) => api(method, MLFLOW + path, opts);
  const tracklite = (method, path, opts) => api(method, TRACKLITE + path, opts);

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "style") el.style.cssText = v;
        else if (k === "value") el.value = v;
        else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (k in el && typeof v !== "string") el[k] = v;
        else el.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  function errorBox(err, context) {
    const box = h("div", { class: "error", role: "alert" });
    if (err instanceof ApiError) {
      let hint = "";
      if (err.status === 401) hint = "\nSign in: reload the page and give your user name and password.";
      if (err.status === 403) hint = "\nYour user lacks the permission this needs; an admin can grant it (tracklite server --auth).";
      box.append(h("b", null, `${context ? context + ": " : ""}${err.status || ""} ${err.code}`.trim()), " — ", err.message, hint);
    } else {
      box.append(h("b", null, context || "Error"), " — ", String(err && err.message ? err.message : err));
    }
    return box;
  }

  function toast(message, isError) {
    const t = h("div", { class: "toast" + (isError ? " err" : "") }, message);
    document.getElementById("toasts").append(t);
    setTimeout(() => t.remove(), isError ? 7000 : 3500);
  }

  function empty(title, detail) {
    return h("div", { class: "empty" }, h("div", { class: "big" }, title), detail ? h("div", null, detail) : null);
  }

  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(ms) {
    if (ms === undefined || ms === null || ms === "") return "";
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fmtDuration(start, end) {
    if (!start || !end) return "";
    let s = Math.max(0, (Number(end) - Number(start)) / 1000);
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    s = Math.round(s % 60);
    if (m < 60) return `${m} min ${s} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-4 || a >= 1e7)) return v.toExponential(4);
    return String(Number(v.toPrecision(6)));
  }
  function fmtBytes(n) {
    if (n === undefined || n === null) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }
  const td = (text, cls) => h("td", { class: cls, title: text === undefined || text === null ? "" : String(text) }, text);
  const monoId = (id) => h("span", { class: "mono", title: id }, id ? id.slice(0, 8) : "");
  const encodePath = (p) => p.split("/").map(encodeURIComponent).join("/");
  const quote = (s) => "'" + String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  const kv = (list) => Object.fromEntries((list || []).map((x) => [x.key, x.value]));
  const runName = (run) => run.info.run_name || run.info.run_id.slice(0, 8);
  const artifactRoot = (uri) => (uri || "").replace(/^[a-z-]+:\/+/, "");
  const loadJSON = (key, fallback) => {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback;
    }
  };
  const saveJSON = (key, v) => {
    try {
      localStorage.setItem(key, JSON.stringify(v));
    } catch (e) { /* storage full or off: keep going */ }
  };

  function pageHead(crumbs, title, ...extra) {
    const c = h("div", { class: "crumbs" });
    crumbs.forEach(([label, href], i) => {
      if (i) c.append(" / ");
      c.append(href ? h("a", { href }, label) : label);
    });
    return h("div", { class: "page-head" }, h("div", null, c, h("h1", null, title)), h("span", { class: "spacer" }), ...extra);
  }

  function panel(title, ...kids) {
    return h("section", { class: "panel" }, title ? h("div", { class: "panel-head" }, h("h2", null, title)) : null, ...kids);
  }

  function kvTable(obj, { emptyText = "None", systemPrefix } = {}) {
    const keys = Object.keys(obj).sort();
    if (!keys.length) return h("p", { class: "muted small" }, emptyText);
    return h("div", { class: "table-wrap" }, h("table", { class: "data kv" },
      h("thead", null, h("tr", null, h("th", null, "Key"), h("th", null, "Value"))),
      h("tbody", null, keys.map((k) => h("tr", { class: systemPrefix && k.startsWith(systemPrefix) ? "system" : null },
        td(k), td(obj[k]))))));
  }

  // ---------------------------------------------------------------- charts

  // dygraphs (131 KB, shipped in static/vendor) loads the first time a chart is drawn.
  let dygraphsLoading = null;
  function loadDygraphs() {
    if (window.Dygraph) return Promise.resolve(true);
    if (!dygraphsLoading) {
      dygraphsLoading = new Promise((resolve) => {
        const script = h("script", { src: "static/vendor/dygraph.min.js" });
        script.onload = () => resolve(!!window.Dygraph);
        script.onerror = () => resolve(false);
        document.head.append(h("link", { rel: "stylesheet", href: "static/vendor/dygraph.min.css" }), script);
      });
    }
    return dygraphsLoading;
  }

  // A line's colour, faint: the raw series under its smoothed line.
  function faint(hex) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, 0.28)`;
  }

  /* dygraphs' data: a row per distinct x, a column per line. null where a line has no point
     at that x (joined over), NaN where its value is missing or not finite (a gap). */
  function lineTable(lines, asDate) {
    const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const rows = xs.map((x) => {
      const row = new Array(lines.length + 1).fill(null);
      row[0] = asDate ? new Date(x) : x;
      return row;
    });
    lines.forEach((line, j) => line.x.forEach((x, i) => {
      const y = line.y[i];
      rows[at.get(x)][j + 1] = y === null || !Number.isFinite(y) ? NaN : y;
    }));
    return rows;
  }

  function ema(ys, weight) {
    if (!weight) return ys;
    let last = 0;
    let n = 0;
    return ys.map((y) => {
      if (y === null || !Number.isFinite(y)) return null;
      last = last * weight + (1 - weight) * y;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  /* A panel of metric charts: one chart per key, one series per run, shared controls. */
  function chartPanel(runs, keys, { picker = false, title = "Charts", initialKey } = {}) {
    const opts = loadJSON("tracklite.chart", { x: "step", log: false, smooth: 0 });
    const cache = new Map();
    const body = h("div");
    const root = h("section", { class: "panel chart-panel" }, h("div", { class: "panel-head" }, h("h2", null, title)));
    if (!runs.length || !keys.length) {
      root.append(empty(runs.length ? "No metrics to chart" : "No runs selected",
        runs.length ? "These runs logged no metrics." : "Select runs with the checkboxes to chart them."));
      return root;
    }
    let chosen = picker ? [initialKey && keys.includes(initialKey) ? initialKey : keys[0]] : keys.slice(0, MAX_CHARTS);
    const keySelect = picker ? h("select", { class: "chart-key", onchange: (e) => { chosen = [e.target.value]; redraw(); } },
      keys.map((k) => h("option", { value: k, selected: k === chosen[0] }, k))) : null;
    const xSelect = h("select", { class: "chart-x", onchange: (e) => { opts.x = e.target.value; save(); redraw(); } },
      [["step", "Step"], ["wall", "Wall time"], ["relative", "Relative time"]].map(([v, l]) => h("option", { value: v, selected: opts.x === v }, l)));
    const logBox = h("input", { type: "checkbox", class: "chart-log", checked: !!opts.log, onchange: (e) => { opts.log = e.target.checked; save(); redraw(); } });
    const smoothVal = h("span", { class: "mono small" }, opts.smooth.toFixed(2));
    const smooth = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(opts.smooth), class: "chart-smooth",
      oninput: (e) => { opts.smooth = Number(e.target.value); smoothVal.textContent = opts.smooth.toFixed(2); save(); redraw(); } });
    function save() { saveJSON("tracklite.chart", opts); }
    root.append(h("div", { class: "chart-controls" },
      picker ? h("label", { class: "inline" }, "Metric", keySelect) : null,
      h("label", { class: "inline" }, "X axis", xSelect),
      h("label", { class: "inline" }, logBox, "Log scale"),
      h("label", { class: "inline" }, "Smoothing", smooth, smoothVal),
      !picker && keys.length > MAX_CHARTS ? h("span", { class: "muted small" }, `first ${MAX_CHARTS} of ${keys.length} metrics`) : null), body);
    const names = new Map(runs.map((r) => [r.info.run_id, runName(r)]));
    const ids = runs.map((r) => r.info.run_id);

    function fetchSeries(key, xKind) {
      const ck = key + "\u0000" + xKind;
      if (!cache.has(ck)) {
        const chunks = [];
        for (let i = 0; i < ids.length; i += 100) chunks.push(ids.slice(i, i + 100));
        cache.set(ck, Promise.all(chunks.map((c) => tracklite("GET", "metrics/series", { params: { run_ids: c, key, x: xKind, max_points: 1500 } })))
          .then((parts) => parts.flatMap((p) => p.series)));
      }
      return cache.get(ck);
    }

    async function draw(card, key) {
      const plot = card.querySelector(".chart");
      const legend = card.querySelector(".chart-legend");
      const note = card.querySelector(".chart-note");
      const seq = (card.drawSeq = (card.drawSeq || 0) + 1);
      let series;
      try {
        const [loaded, fetched] = await Promise.all([loadDygraphs(), fetchSeries(key, opts.x === "step" ? "step" : "time")]);
        if (!loaded) throw new Error("The chart library (static/vendor/dygraph.min.js) did not load; reload the page.");
        series = fetched;
      } catch (err) {
        if (seq === card.drawSeq) plot.replaceChildren(errorBox(err, `Loading ${key}`));
        return;
      }
      if (seq !== card.drawSeq) return; // a newer draw of this card is under way
      const lines = [];
      const labels = new Set();
      let total = 0;
      let drawn = 0;
      series.forEach((s) => {
        if (!s.x.length) return;
        total += s.points;
        drawn += s.x.length;
        const xs = opts.x === "relative" ? s.x.map((t) => (t - s.x[0]) / 1000) : s.x;
        const color = COLORS[ids.indexOf(s.run_id) % COLORS.length];
        let label = names.get(s.run_id) || s.run_id.slice(0, 8);
        if (labels.has(label)) label = `${label} (${s.run_id.slice(0, 8)})`; // dygraphs needs distinct labels
        labels.add(label);
        const single = s.x.length === 1;
        if (opts.smooth > 0) lines.push({ label: `${label} (raw)`, x: xs, y: s.y, color: faint(color), width: 1, single, raw: true });
        lines.push({ label, x: xs, y: ema(s.y, opts.smooth), color, width: 1.8, single, raw: false });
      });
      note.textContent = !lines.length ? "" : total > drawn
        ? `${total.toLocaleString()} points, ${drawn.toLocaleString()} drawn (downsampled on the server)` : `${total.toLocaleString()} points`;
      if (plot.graph) {
        plot.graph.destroy();
        plot.graph = null;
      }
      legend.replaceChildren();
      if (!lines.length) {
        plot.replaceChildren(empty("No points", `None of these runs logged ${key}.`));
        return;
      }
      plot.replaceChildren();
      const perLine = {};
      lines.forEach((l) => {
        perLine[l.label] = { color: l.color, strokeWidth: l.width, drawPoints: l.single, pointSize: 3, highlightCircleSize: l.raw ? 0 : 3 };
      });
      const number = (v) => (typeof v === "number" ? Number(v.toPrecision(6)).toString() : String(v));
      plot.graph = new window.Dygraph(plot, lineTable(lines, opts.x === "wall"), {
        labels: ["x", ...lines.map((l) => l.label)],
        colors: lines.map((l) => l.color),
        series: perLine,
        connectSeparatedPoints: true,
        logscale: !!opts.log,
        xlabel: { step: "Step", wall: "Time", relative: "Relative time (s)" }[opts.x],
        labelsDiv: legend,
        legend: "always",
        gridLineColor: "#edf0f3",
        axisLabelFontSize: 11,
        axes: { y: { valueFormatter: number, axisLabelWidth: 56 }, x: opts.x === "wall" ? {} : { valueFormatter: number } },
        highlightSeriesOpts: { strokeWidth: 2.4 },
      });
    }

    function redraw() {
      const cards = chosen.map((key) => h("div", { class: "chart-card", "data-key": key },
        h("div", { class: "chart-title" }, key), h("div", { class: "chart", "data-key": key }),
        h("div", { class: "chart-legend" }), h("div", { class: "chart-note" })));
      const existing = [...body.querySelectorAll(".chart-card")];
      if (existing.length === cards.length && existing.every((c, i) => c.dataset.key === chosen[i])) {
        existing.forEach((c, i) => draw(c, chosen[i]));
        return;
      }
      body.replaceChildren(h("div", { class: picker ? "chart-grid single" : "chart-grid" }, cards));
      cards.forEach((c, i) => draw(c, chosen[i]));
    }
    redraw();
    return root;
  }

  // ---------------------------------------------------------------- experiments

  async function renderExperiments() {
    const out = h("div");
    app.replaceChildren(out);
    out.append(pageHead([["Experiments"]], "Experiments"));
    const list = h("div");
    out.append(list);
    let experiments = [];
    try {
      let token;
      do {
        const page = await mlflow("POST", "experiments/search", { body: { max_results: 1000, page_token: token, order_by: ["last_update_time DESC"] } });
        experiments = experiments.concat(page.experiments || []);
        token = page.next_page_token;
      } while (token && experiments.length < 10000);
    } catch (err) {
      list.append(errorBox(err, "Listing experiments"));
      return;
    }
    if (!experiments.length) {
      list.append(panel(null, empty("No experiments yet", "Log a run with tracklite or MLflow and it shows up here.")));
      return;
    }
    const filter = h("input", { type: "search", placeholder: "Filter by name…", class: "exp-filter", style: "width:280px" });
    const tbody = h("tbody");
    const fill = () => {
      const f = filter.value.trim().toLowerCase();
      const shown = experiments.filter((e) => !f || e.name.toLowerCase().includes(f));
      tbody.replaceChildren(...shown.map((e) => h("tr", { "data-experiment-id": e.experiment_id },
        h("td", { title: e.name }, h("a", { href: `#/experiments/${encodeURIComponent(e.experiment_id)}` }, e.name)),
        td(e.experiment_id, "mono"),
        td(fmtTime(e.creation_time)), td(fmtTime(e.last_update_time)),
        td(artifactRoot(e.artifact_location) ? e.artifact_location : "", "mono muted"),
        td((e.tags || []).filter((t) => !t.key.startsWith("mlflow.")).map((t) => `${t.key}=${t.value}`).join(", ")))));
      if (!shown.length) tbody.append(h("tr", null, h("td", { colspan: 6 }, empty("No experiment matches", "Clear the filter to see all."))));
    };
    filter.addEventListener("input", fill);
    fill();
    list.append(h("section", { class: "panel flush" },
      h("div", { class: "toolbar", style: "padding:12px" }, filter, h("span", { class: "muted small" }, `${experiments.length} experiments`)),
      h("div", { class: "table-wrap" }, h("table", { class: "data experiments" },
        h("thead", null, h("tr", null, ["Name", "ID", "Created", "Last updated", "Artifact location", "Tags"].map((c) => h("th", null, c)))),
        tbody))));
  }

  // ---------------------------------------------------------------- runs table

  const runsState = new Map();
  const ATTR_COLS = [
    ["Run name", "attributes.run_name"], ["Run ID", null], ["Status", "attributes.status"],
    ["Started", "attributes.start_time"], ["Duration", null], ["User", "attributes.user_id"]];
  const keyRef = (kind, key) => (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) ? `${kind}.${key}` : `${kind}.\`${key}\``);

  async function renderRuns(experimentId) {
    const out = h("div");
    app.replaceChildren(out);
    let st = runsState.get(experimentId);
    if (!st) {
      st = { filter: "", order: ["attributes.start_time", false], pageSize: 50, tokens: [null], page: 0, selected: new Map(), chartKey: null };
      runsState.set(experimentId, st);
    }
    let experiment;
    let keys;
    try {
      [experiment, keys] = await Promise.all([
        mlflow("GET", "experiments/get", { params: { experiment_id: experimentId } }).then((r) => r.experiment),
        tracklite("GET", "experiments/keys", { params: { experiment_id: experimentId } })]);
    } catch (err) {
      out.append(pageHead([["Experiments", "#/experiments"]], `Experiment ${experimentId}`), errorBox(err, "Opening the experiment"));
      return;
    }
    const colsKey = `tracklite.cols.${experimentId}`;
    const cols = loadJSON(colsKey, { params: keys.params.slice(0, 6), metrics: keys.metrics.slice(0, 6) });
    out.append(pageHead([["Experiments", "#/experiments"], [experiment.name]], experiment.name,
      h("div", { class: "meta" }, h("span", null, "ID ", h("b", { class: "mono" }, experiment.experiment_id)),
        h("span", null, "Created ", h("b", null, fmtTime(experiment.creation_time))))));

    // filter
    const filterInput = h("input", { type: "search", class: "run-filter", value: st.filter, spellcheck: "false",
      placeholder: "metrics.loss < 0.5 and params.optimizer = 'adam'", onkeydown: (e) => { if (e.key === "Enter") applyFilter(); } });
    const filterError = h("div", { class: "filter-error" });
    function applyFilter() {
      st.filter = filterInput.value.trim();
      st.tokens = [null];
      st.page = 0;
      load();
    }

    // column chooser
    const menu = h("div", { class: "chooser-menu", hidden: true });
    const choiceList = (kind, all) => all.length ? all.map((k) => h("label", null,
      h("input", { type: "checkbox", checked: cols[kind].includes(k), onchange: (e) => {
        cols[kind] = e.target.checked ? [...cols[kind], k].sort() : cols[kind].filter((x) => x !== k);
        saveJSON(colsKey, cols);
        drawTable();
      } }), k)) : h("p", { class: "muted small" }, "none logged");
    menu.append(h("h3", null, "Params"), h("div", null, choiceList("params", keys.params)), h("h3", null, "Metrics"), h("div", null, choiceList("metrics", keys.metrics)));
    const chooserBtn = h("button", { class: "columns-btn", onclick: (e) => { e.stopPropagation(); menu.hidden = !menu.hidden; } }, "Columns ▾");
    document.addEventListener("click", (e) => { if (!menu.contains(e.target) && e.target !== chooserBtn) menu.hidden = true; });

    const selInfo = h("span", { class: "muted small sel-info" });
    const compareBtn = h("button", { class: "primary compare-btn", onclick: () => {
      location.hash = `#/compare?runs=${[...st.selected.keys()].map(encodeURIComponent).join(",")}`;
    } }, "Compare");
    const clearBtn = h("button", { onclick: () => { st.selected.clear(); drawTable(); drawChart(); } }, "Clear selection");
    const pageSize = h("select", { class: "page-size", onchange: (e) => { st.pageSize = Number(e.target.value); st.tokens = [null]; st.page = 0; load(); } },
      [25, 50, 100, 500].map((n) => h("option", { value: String(n), selected: n === st.pageSize }, `${n} / page`)));

    const tableWrap = h("div", { class: "table-wrap" });
    const pager = h("div", { class: "pager" });
    const chartSlot = h("div");
    out.append(h("section", { class: "panel" },
      h("div", { class: "filter-row" }, filterInput, h("button", { class: "primary", onclick: applyFilter }, "Search"),
        h("button", { onclick: () => { filterInput.value = ""; applyFilter(); } }, "Reset")),
      h("div", { class: "hint" }, "MLflow's search grammar: ", h("code", null, "metrics.acc > 0.9"), ", ", h("code", null, "params.lr = '0.01'"),
        ", ", h("code", null, "tags.team = 'vision'"), ", ", h("code", null, "attributes.status = 'FINISHED'"), ", joined with ", h("code", null, "and"), "."),
      filterError),
      h("section", { class: "panel flush" },
        h("div", { class: "toolbar", style: "padding:10px 12px" }, selInfo, compareBtn, clearBtn, h("span", { class: "spacer" }), pageSize,
          h("div", { class: "chooser" }, chooserBtn, menu)),
        tableWrap, pager),
      chartSlot);

    let runs = [];
    let nextToken = null;
    function sortHeader(label, ref, cls) {
      const active = st.order[0] === ref;
      return h("th", { class: [ref ? "sortable" : "", cls || ""].join(" "), title: ref ? `Sort by ${label}` : label,
        onclick: ref ? () => { st.order = [ref, active ? !st.order[1] : ref !== "attributes.start_time"]; st.tokens = [null]; st.page = 0; load(); } : null },
      label, active ? h("span", { class: "arrow" }, st.order[1] ? " ▲" : " ▼") : null);
    }
    function drawTable() {
      const pageIds = runs.map((r) => r.info.run_id);
      const allChecked = pageIds.length && pageIds.every((id) => st.selected.has(id));
      const head = h("tr", null,
        h("th", { class: "check" }, h("input", { type: "checkbox", class: "select-all", title: "Select the runs on this page", checked: !!allChecked,
          onchange: (e) => { runs.forEach((r) => (e.target.checked ? st.selected.set(r.info.run_id, r) : st.selected.delete(r.info.run_id))); drawTable(); drawChart(); } })),
        ATTR_COLS.map(([label, ref]) => sortHeader(label, ref)),
        cols.params.map((k) => sortHeader(k, keyRef("params", k), "group-params")),
        cols.metrics.map((k) => sortHeader(k, keyRef("metrics", k), "group-metrics")));
      const rows = runs.map((r) => {
        const p = kv(r.data.params);
        const m = Object.fromEntries((r.data.metrics || []).map((x) => [x.key, x.value]));
        const id = r.info.run_id;
        return h("tr", { class: st.selected.has(id) ? "selected" : null, "data-run-id": id },
          h("td", { class: "check" }, h("input", { type: "checkbox", class: "select-run", checked: st.selected.has(id),
            onchange: (e) => { e.target.checked ? st.selected.set(id, r) : st.selected.delete(id); drawTable(); drawChart(); } })),
          h("td", { title: runName(r) }, h("a", { href: `#/runs/${id}` }, runName(r))),
          h("td", null, monoId(id)),
          h("td", null, h("span", { class: `badge ${r.info.status}` }, r.info.status)),
          td(fmtTime(r.info.start_time)), td(fmtDuration(r.info.start_time, r.info.end_time)), td(r.info.user_id),
          cols.params.map((k) => td(p[k] ?? "", "mono")),
          cols.metrics.map((k) => td(k in m ? fmtNum(m[k]) : "", "num")));
      });
      const table = h("table", { class: "data runs" }, h("thead", null, head), h("tbody", null, rows));
      tableWrap.replaceChildren(table);
      if (!runs.length) {
        tableWrap.append(st.filter ? empty("No runs match this filter", "Change or reset the filter.")
          : empty("No runs in this experiment yet", "Runs logged with tracklite.start_run() or mlflow.start_run() appear here."));
      }
      const n = st.selected.size;
      selInfo.textContent = n ? `${n} run${n > 1 ? "s" : ""} selected` : "Select runs to compare or chart them";
      compareBtn.disabled = n < 1;
      clearBtn.disabled = n < 1;
      const first = st.page * st.pageSize;
      pager.replaceChildren(
        h("button", { class: "prev", disabled: st.page === 0, onclick: () => { st.page -= 1; load(); } }, "‹ Previous"),
        h("span", { class: "muted" }, runs.length ? `Page ${st.page + 1} · runs ${first + 1}–${first + runs.length}` : `Page ${st.page + 1}`),
        h("button", { class: "next", disabled: !nextToken, onclick: () => { st.tokens[st.page + 1] = nextToken; st.page += 1; load(); } }, "Next ›"));
    }
    function drawChart() {
      const selected = [...st.selected.values()];
      const metricKeys = keys.metrics;
      const panelEl = chartPanel(selected, metricKeys, { picker: true, title: "Chart of selected runs", initialKey: st.chartKey });
      const sel = panelEl.querySelector(".chart-key");
      if (sel) sel.addEventListener("change", (e) => { st.chartKey = e.target.value; });
      chartSlot.replaceChildren(panelEl);
    }
    let loadSeq = 0;
    async function load() {
      const seq = ++loadSeq; // only the latest request may draw: answers can arrive out of order
      filterError.replaceChildren();
      tableWrap.classList.add("loading");
      try {
        const res = await mlflow("POST", "runs/search", { body: {
          experiment_ids: [experimentId], filter: st.filter, max_results: st.pageSize,
          order_by: [`${st.order[0]} ${st.order[1] ? "ASC" : "DESC"}`], page_token: st.tokens[st.page] || undefined } });
        if (seq !== loadSeq) return;
        runs = res.runs || [];
        nextToken = res.next_page_token || null;
      } catch (err) {
        if (seq !== loadSeq) return;
        filterError.append(errorBox(err, "Search"));
        runs = [];
        nextToken = null;
      }
      tableWrap.classList.remove("loading");
      drawTable();
    }
    await load();
    drawChart();
  }

  // ---------------------------------------------------------------- run page

  async function renderRun(runId) {
    const out = h("div");
    app.replaceChildren(out);
    loadDygraphs(); // a run page charts its metrics: load the library while the run is fetched
    let run;
    let experiment;
    try {
      run = (await mlflow("GET", "runs/get", { params: { run_id: runId } })).run;
      experiment = (await mlflow("GET", "experiments/get", { params: { experiment_id: run.info.experiment_id } })).experiment;
    } catch (err) {
      out.append(pageHead([["Experiments", "#/experiments"]], `Run ${runId}`), errorBox(err, "Opening the run"));
      return;
    }
    const info = run.info;
    const tags = kv(run.data.tags);
    const params = kv(run.data.params);
    const metrics = run.data.metrics || [];
    out.append(pageHead([["Experiments", "#/experiments"], [experiment.name, `#/experiments/${info.experiment_id}`], [runName(run)]], runName(run),
      h("a", { class: "btn", href: `#/compare?runs=${info.run_id}` }, "Open in compare")));
    out.append(h("div", { class: "panel meta" },
      h("span", null, "Run ID ", h("b", { class: "mono" }, info.run_id)),
      h("span", null, "Status ", h("span", { class: `badge ${info.status}` }, info.status)),
      h("span", null, "Started ", h("b", null, fmtTime(info.start_time))),
      info.end_time ? h("span", null, "Duration ", h("b", null, fmtDuration(info.start_time, info.end_time))) : null,
      h("span", null, "User ", h("b", null, info.user_id || "")),
      tags["mlflow.source.name"] ? h("span", null, "Source ", h("b", { class: "mono" }, tags["mlflow.source.name"])) : null,
      info.lifecycle_stage !== "active" ? h("span", { class: "badge FAILED" }, info.lifecycle_stage) : null));

    // description
    const descBody = h("div");
    const showDesc = (text) => {
      descBody.replaceChildren(text ? h("div", { class: "desc run-description" }, text) : h("p", { class: "muted small run-description" }, "No description."),
        h("div", { class: "form-row" }, h("button", { onclick: editDesc }, "Edit description")));
    };
    function editDesc() {
      const area = h("textarea", { rows: 4, value: tags["mlflow.note.content"] || "" });
      const errSlot = h("div");
      descBody.replaceChildren(area, h("div", { class: "form-row" },
        h("button", { class: "primary", onclick: async () => {
          try {
            await mlflow("POST", "runs/set-tag", { body: { run_id: info.run_id, key: "mlflow.note.content", value: area.value } });
            tags["mlflow.note.content"] = area.value;
            showDesc(area.value);
            toast("Description saved");
          } catch (err) { errSlot.replaceChildren(errorBox(err, "Saving the description")); }
        } }, "Save"), h("button", { onclick: () => showDesc(tags["mlflow.note.content"]) }, "Cancel")), errSlot);
    }
    showDesc(tags["mlflow.note.content"]);
    out.append(panel("Description", descBody));

    const userTags = Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith("mlflow.")));
    const sysTags = Object.fromEntries(Object.entries(tags).filter(([k]) => k.startsWith("mlflow.")));
    const metricsTable = metrics.length ? h("div", { class: "table-wrap" }, h("table", { class: "data run-metrics" },
      h("thead", null, h("tr", null, h("th", null, "Metric"), h("th", null, "Latest value"), h("th", null, "Step"), h("th", null, "Logged"))),
      h("tbody", null, [...metrics].sort((a, b) => a.key.localeCompare(b.key)).map((m) =>
        h("tr", null, td(m.key, "mono"), td(fmtNum(m.value), "num"), td(m.step, "num"), td(fmtTime(m.timestamp))))))) : h("p", { class: "muted small" }, "No metrics.");
    const sysToggle = h("details", null, h("summary", { class: "muted small" }, `System tags (${Object.keys(sysTags).length})`), kvTable(sysTags, { systemPrefix: "mlflow." }));
    out.append(h("div", { class: "grid2" },
      panel(`Parameters (${Object.keys(params).length})`, h("div", { class: "run-params" }, kvTable(params, { emptyText: "No params." }))),
      panel(`Metrics (${metrics.length})`, metricsTable)));
    out.append(panel("Tags", kvTable(userTags, { emptyText: "No tags." }), sysToggle));

    out.append(chartPanel([run], metrics.map((m) => m.key).sort(), { title: "Metric charts" }));

    const artifactsSlot = h("div");
    out.append(h("section", { class: "panel flush" }, h("div", { class: "panel-head", style: "padding:12px 16px 0" }, h("h2", null, "Artifacts")), artifactsSlot));
    artifactsSlot.append(artifactBrowser(artifactRoot(info.artifact_uri)));

    const modelsSlot = h("div");
    out.append(panel("Logged models", modelsSlot));
    renderRunModels(run, modelsSlot);
  }

  // ---------------------------------------------------------------- artifacts

  const IMAGE_EXT = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp"]);
  const TEXT_EXT = new Set(["txt", "log", "md", "csv", "tsv", "py", "yaml", "yml", "json", "toml", "ini", "cfg", "sh", "sql",
    "r", "html", "xml", "ipynb", "jsonl", "rst", "conf", "js", "css", "tex"]);
  const MAX_PREVIEW = 2 * 1024 * 1024;

  function artifactBrowser(root) {
    const tree = h("div", { class: "tree" });
    const preview = h("div", { class: "preview" }, h("p", { class: "muted small" }, "Select a file to preview it."));
    const url = (rel) => `${ARTIFACTS}/${encodePath(root + "/" + rel)}`;
    let activeNode = null;

    async function list(rel) {
      const res = await api("GET", ARTIFACTS, { params: { path: rel ? `${root}/${rel}` : root } });
      return (res.files || []).map((f) => ({ ...f, rel: rel ? `${rel}/${f.path}` : f.path }))
        .sort((a, b) => (b.is_dir - a.is_dir) || a.rel.localeCompare(b.rel));
    }
    function nodeFor(f, depth) {
      const name = f.rel.split("/").pop();
      const node = h("div", { class: "node", style: `padding-left:${12 + depth * 16}px`, "data-path": f.rel, title: f.rel },
        h("span", { class: "icon" }, f.is_dir ? "▸" : "·"), h("span", null, name), f.is_dir ? null : h("span", { class: "size" }, fmtBytes(f.file_size)));
      const wrap = h("div", null, node);
      let open = false;
      let kids = null;
      node.addEventListener("click", async () => {
        if (f.is_dir) {
          open = !open;
          node.querySelector(".icon").textContent = open ? "▾" : "▸";
          if (open && !kids) {
            kids = h("div");
            wrap.append(kids);
            try {
              const files = await list(f.rel);
              kids.append(...files.map((c) => nodeFor(c, depth + 1)));
              if (!files.length) kids.append(h("div", { class: "node muted", style: `padding-left:${28 + depth * 16}px` }, "empty"));
            } catch (err) { kids.append(errorBox(err, "Listing")); }
          } else if (kids) kids.hidden = !open;
        } else {
          if (activeNode) activeNode.classList.remove("active");
          node.classList.add("active");
          activeNode = node;
          showFile(f);
        }
      });
      return wrap;
    }
    async function showFile(f) {
      const name = f.rel.split("/").pop();
      const ext = name.includes(".") ? name.split(".").pop().toLowerCase() : "";
      const head = h("div", { class: "preview-head" }, h("b", { class: "mono" }, f.rel), h("span", { class: "muted small" }, fmtBytes(f.file_size)),
        h("span", { class: "spacer" }), h("a", { class: "btn download", href: `${url(f.rel)}?download=1`, download: name }, "Download"));
      preview.replaceChildren(head);
      if (IMAGE_EXT.has(ext)) {
        preview.append(h("img", { src: url(f.rel), alt: f.rel, class: "artifact-image" }));
        return;
      }
      const texty = TEXT_EXT.has(ext) || !ext;
      if (!texty) {
        preview.append(h("p", { class: "muted" }, "No preview for this file type; download it instead."));
        return;
      }
      if (f.file_size > MAX_PREVIEW) {
        preview.append(h("p", { class: "muted" }, `This file is ${fmtBytes(f.file_size)}, too large to preview; download it instead.`));
        return;
      }
      try {
        const resp = await fetch(url(f.rel));
        if (!resp.ok) throw new ApiError(resp.status, `HTTP_${resp.status}`, await resp.text());
        let text = await resp.text();
        if (text.includes("\u0000")) {
          preview.append(h("p", { class: "muted" }, "This looks like a binary file; download it instead."));
          return;
        }
        let kind = ext === "yml" ? "yaml" : ext || (name === "MLmodel" ? "yaml" : "text");
        if (ext === "json" || ext === "ipynb") {
          try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { kind = "text"; }
        }
        preview.append(h("pre", { class: `artifact-text lang-${kind}` }, text));
      } catch (err) {
        preview.append(errorBox(err, "Reading the file"));
      }
    }
    (async () => {
      try {
        const files = await list("");
        if (!files.length) tree.append(h("p", { class: "muted small", style: "padding:0 12px" }, "No artifacts."));
        tree.append(...files.map((f) => nodeFor(f, 0)));
      } catch (err) {
        tree.append(errorBox(err, "Listing artifacts"));
      }
    })();
    return h("div", { class: "artifacts" }, tree, preview);
  }

  // ---------------------------------------------------------------- logged models + registering

  function signatureTable(part) {
    if (!part) return h("span", { class: "muted small" }, "none");
    if (!Array.isArray(part)) return h("code", null, JSON.stringify(part));
    return h("table", { class: "data sig" }, h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Type"), h("th", null, "Shape / details"))),
      h("tbody", null, part.map((col) => {
        const spec = col["tensor-spec"];
        const type = spec ? `tensor ${spec.dtype}` : col.type;
        const detail = spec ? JSON.stringify(spec.shape) : [col.required === false ? "optional" : "", col.default !== undefined ? `default ${JSON.stringify(col.default)}` : ""].filter(Boolean).join(", ");
        return h("tr", null, td(col.name ?? "—", "mono"), td(type, "mono"), td(detail, "mono"));
      })));
  }

  async function renderRunModels(run, slot) {
    const info = run.info;
    let models;
    let versions = [];
    try {
      models = (await mlflow("POST", "logged-models/search", { body: { experiment_ids: [info.experiment_id], filter: `source_run_id = '${info.run_id}'`, max_results: 100 } })).models || [];
      versions = (await mlflow("GET", "model-versions/search", { params: { filter: `run_id = '${info.run_id}'`, max_results: 1000 } })).model_versions || [];
    } catch (err) {
      slot.append(errorBox(err, "Listing the run's models"));
      return;
    }
    if (!models.length) {
      slot.append(h("p", { class: "muted small" }, "This run logged no model."));
      return;
    }
    let names = [];
    try {
      names = ((await mlflow("GET", "registered-models/search", { params: { max_results: 1000 } })).registered_models || []).map((m) => m.name);
    } catch (err) { /* registering still works by typing a name */ }
    const datalist = h("datalist", { id: "registered-names" }, names.map((n) => h("option", { value: n })));
    slot.append(datalist);
    for (const m of models) {
      const mi = m.info;
      const card = h("div", { class: "logged-model", "data-model-id": mi.model_id, style: "border-top:1px solid var(--line);padding-top:10px;margin-top:10px" });
      const regs = versions.filter((v) => v.model_id === mi.model_id || v.source === `models:/${mi.model_id}`);
      card.append(h("div", { class: "meta" }, h("span", null, "Name ", h("b", null, mi.name)), h("span", null, "Model ID ", h("b", { class: "mono" }, mi.model_id)),
        h("span", null, "Status ", h("span", { class: `badge ${(mi.status || "").replace("LOGGED_MODEL_", "")}` }, (mi.status || "").replace("LOGGED_MODEL_", ""))),
        h("span", null, "Load with ", h("code", null, `models:/${mi.model_id}`))));
      if (regs.length) {
        card.append(h("div", { class: "form-row small" }, "Registered as ", regs.map((v) => h("a", { href: `#/models/${encodeURIComponent(v.name)}`, class: "badge" },
          `${v.name} v${v.version}${v.current_stage && v.current_stage !== "None" ? " · " + v.current_stage : ""}`))));
      }
      const sigSlot = h("div");
      card.append(sigSlot);
      tracklite("GET", `logged-models/${encodeURIComponent(mi.model_id)}/mlmodel`).then((res) => {
        const flavors = Object.keys((res.mlmodel && res.mlmodel.flavors) || {});
        sigSlot.append(h("div", { class: "meta small", style: "margin-top:6px" }, h("span", null, "Flavors ", h("b", { class: "mono" }, flavors.join(", ") || "—"))));
        if (!res.signature) {
          sigSlot.append(h("p", { class: "muted small" }, "No signature was logged with this model."));
          return;
        }
        sigSlot.append(h("div", { class: "grid2 signature", style: "margin-top:8px" },
          h("div", null, h("h3", null, "Signature inputs"), signatureTable(res.signature.inputs)),
          h("div", null, h("h3", null, "Signature outputs"), signatureTable(res.signature.outputs),
            res.signature.params ? [h("h3", null, "Params"), signatureTable(res.signature.params)] : null)));
      }).catch((err) => sigSlot.append(errorBox(err, "Reading the MLmodel file")));
      const nameInput = h("input", { type: "text", class: "register-name", list: "registered-names", placeholder: "Registered model name", value: mi.name });
      const errSlot = h("div");
      const btn = h("button", { class: "primary register-btn", onclick: async () => {
        const name = nameInput.value.trim();
        errSlot.replaceChildren();
        if (!name) { errSlot.append(errorBox(new Error("Give the registered model a name."), "Register")); return; }
        btn.disabled = true;
        try {
          try {
            await mlflow("GET", "registered-models/get", { params: { name } });
          } catch (err) {
            if (err.status !== 404) throw err;
            await mlflow("POST", "registered-models/create", { body: { name } });
          }
          const mv = (await mlflow("POST", "model-versions/create", { body: { name, source: `models:/${mi.model_id}`, model_id: mi.model_id, run_id: info.run_id } })).model_version;
          toast(`Registered ${name} version ${mv.version}`);
          location.hash = `#/models/${encodeURIComponent(name)}`;
        } catch (err) {
          errSlot.append(errorBox(err, "Register"));
        } finally { btn.disabled = false; }
      } }, "Register model");
      card.append(h("div", { class: "form-row" }, nameInput, btn), errSlot);
      slot.append(card);
    }
  }

  // ---------------------------------------------------------------- compare

  async function renderCompare(ids) {
    const out = h("div");
    app.replaceChildren(out);
    loadDygraphs();
    ids = ids.filter(Boolean);
    out.append(pageHead([["Experiments", "#/experiments"], ["Compare"]], `Comparing ${ids.length} run${ids.length === 1 ? "" : "s"}`));
    if (!ids.length) {
      out.append(panel(null, empty("No runs to compare", "Select runs in an experiment's runs table and press Compare.")));
      return;
    }
    let runs;
    try {
      runs = await Promise.all(ids.map((id) => mlflow("GET", "runs/get", { params: { run_id: id } }).then((r) => r.run)));
    } catch (err) {
      out.append(errorBox(err, "Loading the runs"));
      return;
    }
    const expIds = [...new Set(runs.map((r) => r.info.experiment_id))];
    if (expIds.length === 1) {
      try {
        const exp = (await mlflow("GET", "experiments/get", { params: { experiment_id: expIds[0] } })).experiment;
        out.firstChild.replaceWith(pageHead([["Experiments", "#/experiments"], [exp.name, `#/experiments/${exp.experiment_id}`], ["Compare"]],
          `Comparing ${runs.length} run${runs.length === 1 ? "" : "s"}`));
      } catch (err) { /* the breadcrumb is a nicety */ }
    }
    const onlyDiff = h("input", { type: "checkbox", class: "only-diff" });
    const paramsSlot = h("div");
    const metricsSlot = h("div");
    const sideTable = (cls, rowsOf, fmt) => {
      const maps = runs.map(rowsOf);
      const keys = [...new Set(maps.flatMap((m) => Object.keys(m)))].sort();
      if (!keys.length) return h("p", { class: "muted small" }, "None logged.");
      const rows = keys.map((k) => {
        const vals = maps.map((m) => (k in m ? fmt(m[k]) : ""));
        const differs = new Set(vals).size > 1;
        if (onlyDiff.checked && !differs) return null;
        return h("tr", { class: differs ? "differs" : null }, td(k, "mono"), vals.map((v) => td(v, (differs ? "diff " : "") + "mono")));
      });
      return h("div", { class: "table-wrap" }, h("table", { class: `data ${cls}` },
        h("thead", null, h("tr", null, h("th", null, "Key"), runs.map((r) => h("th", { title: r.info.run_id }, h("a", { href: `#/runs/${r.info.run_id}` }, runName(r)))))),
        h("tbody", null, rows)));
    };
    const fill = () => {
      paramsSlot.replaceChildren(sideTable("compare-params", (r) => kv(r.data.params), (v) => v));
      metricsSlot.replaceChildren(sideTable("compare-metrics", (r) => Object.fromEntries((r.data.metrics || []).map((m) => [m.key, m.value])), fmtNum));
    };
    onlyDiff.addEventListener("change", fill);
    fill();
    out.append(h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", null, "Parameters"), h("span", { class: "spacer" }),
      h("label", { class: "inline" }, onlyDiff, "Only differing rows")), h("p", { class: "hint", style: "margin-top:0" }, "Highlighted rows differ between runs."), paramsSlot));
    out.append(panel("Latest metrics", metricsSlot));
    const metricKeys = [...new Set(runs.flatMap((r) => (r.data.metrics || []).map((m) => m.key)))].sort();
    out.append(chartPanel(runs, metricKeys, { title: "Metric charts" }));
  }

  // ---------------------------------------------------------------- registry

  async function renderModels() {
    const out = h("div");
    app.replaceChildren(out);
    out.append(pageHead([["Models"]], "Registered models"));
    let models = [];
    try {
      let token;
      do {
        const page = await mlflow("GET", "registered-models/search", { params: { max_results: 1000, page_token: token } });
        models = models.concat(page.registered_models || []);
        token = page.next_page_token;
      } while (token && models.length < 10000);
    } catch (err) {
      out.append(errorBox(err, "Listing registered models"));
      return;
    }
    if (!models.length) {
      out.append(panel(null, empty("No registered models yet", "Register a logged model from its run's page, or with registered_model_name= when logging it.")));
      return;
    }
    out.append(h("section", { class: "panel flush" }, h("div", { class: "table-wrap" }, h("table", { class: "data models" },
      h("thead", null, h("tr", null, ["Name", "Latest versions", "Aliases", "Last modified", "Description"].map((c) => h("th", null, c)))),
      h("tbody", null, models.map((m) => h("tr", { "data-model": m.name },
        h("td", { title: m.name }, h("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name)),
        h("td", null, (m.latest_versions || []).map((v) => h("span", { class: `badge ${v.current_stage}`, style: "margin-right:4px" }, `v${v.version} · ${v.current_stage}`))),
        h("td", null, (m.aliases || []).map((a) => h("span", { class: "alias" }, `@${a.alias} → v${a.version}`))),
        td(fmtTime(m.last_updated_timestamp)), td(m.description || ""))))))));
  }

  async function renderModel(name) {
    const out = h("div");
    app.replaceChildren(out);
    let rm;
    let versions;
    try {
      rm = (await mlflow("GET", "registered-models/get", { params: { name } })).registered_model;
      versions = (await mlflow("GET", "model-versions/search", { params: { filter: `name = ${quote(name)}`, max_results: 1000 } })).model_versions || [];
    } catch (err) {
      out.append(pageHead([["Models", "#/models"]], name), errorBox(err, "Opening the model"));
      return;
    }
    versions.sort((a, b) => Number(b.version) - Number(a.version));
    const rerender = () => renderModel(name);
    const actionError = h("div", { class: "action-error" });
    const act = async (label, fn, onFail) => {
      actionError.replaceChildren();
      try {
        await fn();
        toast(label);
        rerender();
      } catch (err) {
        actionError.append(errorBox(err, label));
        toast(`${label} failed: ${err.message}`, true);
        if (onFail) onFail();
      }
    };
    out.append(pageHead([["Models", "#/models"], [rm.name]], rm.name, h("div", { class: "meta" },
      h("span", null, "Created ", h("b", null, fmtTime(rm.creation_timestamp))), h("span", null, "Updated ", h("b", null, fmtTime(rm.last_updated_timestamp))))));
    out.append(actionError);

    // description
    const descBody = h("div");
    const showDesc = () => descBody.replaceChildren(rm.description ? h("div", { class: "desc model-description" }, rm.description) : h("p", { class: "muted small model-description" }, "No description."),
      h("div", { class: "form-row" }, h("button", { class: "edit-model-desc", onclick: () => {
        const area = h("textarea", { rows: 4, value: rm.description || "" });
        descBody.replaceChildren(area, h("div", { class: "form-row" },
          h("button", { class: "primary save-model-desc", onclick: () => act("Description saved", () => mlflow("PATCH", "registered-models/update", { body: { name, description: area.value } })) }, "Save"),
          h("button", { onclick: showDesc }, "Cancel")));
      } }, "Edit description")));
    showDesc();

    // aliases
    const aliasInput = h("input", { type: "text", class: "alias-name", placeholder: "alias, e.g. champion" });
    const aliasVersion = h("select", { class: "alias-version" }, versions.map((v) => h("option", { value: v.version }, `version ${v.version}`)));
    const aliasBody = h("div", null,
      (rm.aliases || []).length ? h("div", { class: "aliases" }, rm.aliases.map((a) => h("span", { class: "alias", "data-alias": a.alias }, `@${a.alias} → v${a.version}`,
        h("button", { title: `Delete alias ${a.alias}`, onclick: () => act(`Alias ${a.alias} deleted`, () => mlflow("DELETE", "registered-models/alias", { params: { name, alias: a.alias } })) }, "×"))))
        : h("p", { class: "muted small" }, "No aliases."),
      versions.length ? h("div", { class: "form-row" }, aliasInput, aliasVersion, h("button", { class: "set-alias", onclick: () => {
        const alias = aliasInput.value.trim();
        if (!alias) { actionError.replaceChildren(errorBox(new Error("Give the alias a name."), "Set alias")); return; }
        act(`Alias ${alias} set to version ${aliasVersion.value}`, () => mlflow("POST", "registered-models/alias", { body: { name, alias, version: aliasVersion.value } }));
      } }, "Set alias")) : null);
    out.append(h("div", { class: "grid2" }, panel("Description", descBody), panel("Aliases", aliasBody)));

    // versions
    const vrows = versions.map((v) => {
      const stageSel = h("select", { class: "stage-select", title: "Move this version to another stage",
        onchange: (e) => act(`Version ${v.version} moved to ${e.target.value}`, () => mlflow("POST", "model-versions/transition-stage",
          { body: { name, version: v.version, stage: e.target.value, archive_existing_versions: false } }),
        () => { e.target.value = v.current_stage || "None"; }) },
      STAGES.map((s) => h("option", { value: s, selected: s === (v.current_stage || "None") }, s)));
      const descCell = h("td", { class: "wrap", title: v.description || "" }, v.description || h("span", { class: "muted" }, "—"), " ",
        h("button", { class: "link edit-version-desc", onclick: () => {
          const input = h("input", { type: "text", value: v.description || "", style: "width:100%" });
          descCell.replaceChildren(input, h("div", { class: "form-row" },
            h("button", { class: "primary", onclick: () => act(`Version ${v.version} description saved`, () => mlflow("PATCH", "model-versions/update", { body: { name, version: v.version, description: input.value } })) }, "Save"),
            h("button", { onclick: rerender }, "Cancel")));
        } }, "edit"));
      return h("tr", { "data-version": v.version },
        td(v.version, "mono"),
        h("td", null, h("span", { class: `badge ${v.current_stage}` }, v.current_stage || "None"), " ", stageSel),
        h("td", null, (v.aliases || []).map((a) => h("span", { class: "alias" }, `@${a}`))),
        td(fmtTime(v.creation_timestamp)),
        h("td", null, v.run_id ? h("a", { href: `#/runs/${v.run_id}` }, monoId(v.run_id)) : ""),
        td(v.source || "", "mono"),
        td(v.user_id || ""),
        descCell);
    });
    out.append(h("section", { class: "panel flush" }, h("div", { class: "panel-head", style: "padding:12px 16px 0" }, h("h2", null, `Versions (${versions.length})`)),
      versions.length ? h("div", { class: "table-wrap" }, h("table", { class: "data versions" },
        h("thead", null, h("tr", null, ["Version", "Stage", "Aliases", "Created", "Run", "Source", "User", "Description"].map((c) => h("th", null, c)))),
        h("tbody", null, vrows))) : empty("No versions", "Register a logged model from its run's page.")));

    const tags = kv(rm.tags);
    out.append(panel("Tags", kvTable(tags, { emptyText: "No tags." })));

    // audit history
    const histSlot = h("div");
    out.append(panel("History", histSlot));
    try {
      const events = ((await tracklite("GET", "registered-models/history", { params: { name } })).events || []).slice().reverse();
      histSlot.append(events.length ? h("div", { class: "table-wrap" }, h("table", { class: "data history" },
        h("thead", null, h("tr", null, ["When", "User", "Action", "Version", "Key", "Change"].map((c) => h("th", null, c)))),
        h("tbody", null, events.map((e) => h("tr", { "data-action": e.action },
          td(fmtTime(e.timestamp)), td(e.user_id || "", "mono event-user"), td(e.action, "mono"), td(e.version ?? "", "mono"), td(e.key ?? "", "mono"),
          td(e.old_value !== null && e.old_value !== undefined ? `${e.old_value} → ${e.new_value ?? "∅"}` : (e.new_value ?? "")))))))
        : h("p", { class: "muted small" }, "No recorded changes."));
    } catch (err) {
      histSlot.append(errorBox(err, "Loading the history"));
    }
  }

  // ---------------------------------------------------------------- SQL

  const VIEWS = ["runs_wide", "runs", "params", "metrics", "latest_metrics", "tags", "experiments", "experiment_tags",
    "logged_models", "logged_model_params", "logged_model_tags", "registered_models", "registered_model_tags",
    "model_versions", "model_version_tags", "registered_model_aliases", "run_inputs", "registry_audit"];
  const DEFAULT_SQL = "SELECT experiment_id, run_name, status, user_id, epoch_ms(start_time) AS started\nFROM runs\nORDER BY start_time DESC\nLIMIT 100";

  function renderSql() {
    const out = h("div");
    app.replaceChildren(out);
    out.append(pageHead([["SQL"]], "SQL over the store's views"));
    const area = h("textarea", { rows: 8, class: "sql-input", spellcheck: "false", value: localStorage.getItem("tracklite.sql") || DEFAULT_SQL });
    const maxRows = h("select", { class: "sql-max-rows" }, [100, 1000, 10000].map((n) => h("option", { value: String(n), selected: n === 1000 }, `${n.toLocaleString()} rows max`)));
    const status = h("span", { class: "muted small sql-status" });
    const result = h("div", { class: "sql-result" });
    const runBtn = h("button", { class: "primary sql-run", onclick: run }, "Run ", h("span", { class: "small", style: "opacity:.75" }, "Ctrl+Enter"));
    area.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
    async function run() {
      const query = area.value;
      saveJSON("tracklite.sql", null);
      try { localStorage.setItem("tracklite.sql", query); } catch (e) { /* ignore */ }
      result.replaceChildren();
      status.textContent = "Running…";
      runBtn.disabled = true;
      const t0 = performance.now();
      try {
        const res = await tracklite("POST", "sql", { body: { query, max_rows: Number(maxRows.value) } });
        const ms = Math.round(performance.now() - t0);
        status.textContent = `${res.rows.length.toLocaleString()} row${res.rows.length === 1 ? "" : "s"}${res.truncated ? " (truncated)" : ""} · ${ms} ms`;
        if (res.truncated) result.append(h("div", { class: "notice" }, `Only the first ${res.rows.length.toLocaleString()} rows are shown; add a LIMIT or raise the row cap.`));
        if (!res.columns.length) { result.append(empty("The statement returned no columns")); return; }
        result.append(h("div", { class: "table-wrap" }, h("table", { class: "data sql-table" },
          h("thead", null, h("tr", null, res.columns.map((c, i) => h("th", { title: res.types[i] }, c, h("span", { class: "muted small" }, ` ${res.types[i]}`))))),
          h("tbody", null, res.rows.map((row) => h("tr", null, row.map((v, i) => {
            if (v === null) return h("td", { class: "muted" }, "null");
            const text = typeof v === "object" ? JSON.stringify(v) : typeof v === "number" ? fmtNum(v) : String(v);
            return td(text, /INT|DOUBLE|FLOAT|DECIMAL|BIGINT/i.test(res.types[i]) ? "num" : null);
          })))))));
        if (!res.rows.length) result.append(empty("No rows"));
      } catch (err) {
        status.textContent = "";
        result.append(errorBox(err, "Query failed"));
      } finally {
        runBtn.disabled = false;
      }
    }
    out.append(h("div", { class: "sql-layout" },
      h("div", null, h("section", { class: "panel" }, area, h("div", { class: "form-row" }, runBtn, maxRows, status)), result),
      h("aside", { class: "panel" }, h("h2", null, "Views"),
        h("div", { class: "views-list" }, VIEWS.map((v) => h("div", null, h("a", { title: `SELECT * FROM ${v}`, onclick: () => { area.value = `SELECT * FROM ${v} LIMIT 100`; run(); } }, v)))),
        h("p", { class: "hint" }, "Read-only: SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN and PIVOT run; anything that would change the store is refused. ",
          h("code", null, "runs_wide"), " has one column per param and metric: quote them, ", h("code", null, "\"metrics.loss\""), "."))));
  }

  // ---------------------------------------------------------------- routing

  const ROUTES = [
    [/^\/?$/, () => renderExperiments(), "experiments"],
    [/^\/experiments\/?$/, () => renderExperiments(), "experiments"],
    [/^\/experiments\/([^/]+)$/, (m) => renderRuns(decodeURIComponent(m[1])), "experiments"],
    [/^\/runs\/([^/]+)$/, (m) => renderRun(decodeURIComponent(m[1])), "experiments"],
    [/^\/compare$/, (m, q) => renderCompare((q.get("runs") || "").split(",")), "experiments"],
    [/^\/models\/?$/, () => renderModels(), "models"],
    [/^\/models\/(.+)$/, (m) => renderModel(decodeURIComponent(m[1])), "models"],
    [/^\/sql$/, () => renderSql(), "sql"],
  ];

  function route() {
    const hash = location.hash.replace(/^#/, "");
    const [path, query] = hash.split("?");
    const q = new URLSearchParams(query || "");
    for (const [re, fn, nav] of ROUTES) {
      const m = path.match(re);
      if (m) {
        document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
        Promise.resolve(fn(m, q)).catch((err) => app.append(errorBox(err, "Showing the page")));
        window.scrollTo(0, 0);
        return;
      }
    }
    app.replaceChildren(pageHead([], "Page not found"), panel(null, empty(`Nothing at #${hash}`, "Use the links at the top.")));
  }

  async function showUser() {
    const slot = document.getElementById("whoami");
    try {
      const me = await tracklite("GET", "whoami");
      slot.textContent = me.auth ? `signed in as ${me.user}` : "no sign-in (--auth off)";
    } catch (err) {
      slot.textContent = err.status === 401 ? "not signed in" : "";
    }
  }

  window.addEventListener("hashchange", route);
  route();
  showUser();
})();
