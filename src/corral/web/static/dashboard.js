// corral dashboard: pages refresh the parts marked data-live by fetching them again
// every few seconds with the ETag they have (an unchanged part costs a 304), only
// while the page is visible; the plots page draws its four charts with Chart.js and
// refreshes their data the same way.
"use strict";
(function () {
  const body = document.body;
  const refreshMs = Math.max(1000, 1000 * Number(body.dataset.refreshS || 5));
  const status = document.getElementById("live-status");

  function say(text) { if (status) status.textContent = text; }

  function stamp() { return new Date().toLocaleTimeString(); }

  // fetch `url` with the ETag last seen; resolves to null when unchanged
  async function poll(url, holder, as) {
    const headers = { "X-Requested-With": "fetch" };
    if (holder.etag) headers["If-None-Match"] = holder.etag;
    const answer = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    if (answer.status === 304) return null;
    if (answer.status === 401) { window.location.reload(); return null; }
    if (!answer.ok) throw new Error((await answer.text()) || ("HTTP " + answer.status));
    holder.etag = answer.headers.get("ETag");
    return as === "json" ? answer.json() : answer.text();
  }

  function every(task) {
    let timer = null;
    async function tick() {
      timer = null;
      if (!document.hidden) {
        try { await task(); say("updated " + stamp()); }
        catch (e) { say("not updated: " + e.message); }
      }
      timer = setTimeout(tick, refreshMs);
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer !== null) { clearTimeout(timer); tick(); }
    });
    timer = setTimeout(tick, refreshMs);
  }

  for (const part of document.querySelectorAll("[data-live]")) {
    const holder = { etag: part.dataset.etag || null };
    every(async () => {
      const html = await poll(part.dataset.live, holder, "text");
      if (html !== null) part.innerHTML = html;
    });
  }

  // ---- plots ----------------------------------------------------------------
  const plots = document.getElementById("plots");
  if (!plots || typeof Chart === "undefined") return;
  const period = plots.dataset.period;
  const charts = {};

  function label(t) {
    const d = new Date(t * 1000);
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (period === "hour" || period === "day") return hm;
    if (period === "week") return d.toLocaleDateString([], { weekday: "short" }) + " " + hm;
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm;
  }

  function draw(id, type, labels, data, dataset, options) {
    const existing = charts[id];
    if (existing) {
      existing.data.labels = labels;
      existing.data.datasets[0].data = data;
      existing.update("none");
      return;
    }
    charts[id] = new Chart(document.getElementById(id), {
      type,
      data: { labels, datasets: [Object.assign({ data }, dataset)] },
      options: Object.assign({
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false } },
      }, options),
    });
  }

  function render(d) {
    const times = d.t.map(label);
    draw("chart-utilization", "line", d.utilization_t.map(label), d.utilization_pct,
         { label: "CPUs allocated (%)", borderColor: "#2f6fb0", backgroundColor: "rgba(47,111,176,.2)",
           fill: true, pointRadius: 0, stepped: true },
         { scales: { y: { min: 0, suggestedMax: 100, title: { display: true, text: "% of " + d.cpus_total + " CPUs" } } } });
    draw("chart-queue", "line", times, d.queue_length,
         { label: "jobs waiting", borderColor: "#d08a00", backgroundColor: "rgba(208,138,0,.2)",
           fill: true, pointRadius: 0, stepped: true },
         { scales: { y: { min: 0, title: { display: true, text: "jobs waiting (average)" } } } });
    draw("chart-wait", "bar", d.wait.bins, d.wait.jobs,
         { label: "jobs started", backgroundColor: "#6a8fc7" },
         { scales: { y: { min: 0, ticks: { precision: 0 }, title: { display: true, text: "jobs started" } } } });
    draw("chart-accounts", "bar", d.accounts.map((a) => a.account),
         d.accounts.map((a) => a.cpu_hours),
         { label: "CPU-hours", backgroundColor: "#2e8b57" },
         { indexAxis: "y", scales: { x: { min: 0, title: { display: true, text: "CPU-hours" } } } });
    for (const el of document.querySelectorAll("[data-scope]")) el.textContent = d.scope;
    const source = document.getElementById("utilization-from");
    if (source) source.textContent = "(from the " + d.utilization_from + ")";
    const note = document.getElementById("plots-note");
    if (note) {
      note.textContent = d.jobs_counted + " jobs in the period" +
        (d.truncated ? " (only the newest were read)" : "");
    }
    plots.dataset.generation = d.generation;
  }

  const holder = { etag: null };
  async function refresh() {
    const d = await poll(plots.dataset.url, holder, "json");
    if (d !== null) render(d);
  }
  refresh().then(() => say("updated " + stamp()), (e) => say("not drawn: " + e.message));
  every(refresh);
})();
