// TableSafe console: the only script. Two jobs, both optional (every page works
// without it): live job progress over Server-Sent Events, and choosing an
// instant by clicking a recovery timeline.
"use strict";

function text(id, value) {
  const el = document.getElementById(id);
  if (el && value !== undefined && value !== null) el.textContent = value;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u + 1 < units.length) { v /= 1024; u += 1; }
  return u === 0 ? n + " B" : v.toFixed(1) + " " + units[u];
}

function followJob(job) {
  const id = job.dataset.job;
  const events = new EventSource("/jobs/" + encodeURIComponent(id) + "/events");
  events.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    const state = document.getElementById("job-state");
    if (state) {
      state.textContent = p.state;
      state.dataset.state = p.state;
      state.className = "state state-" + p.state;
    }
    text("job-rows", p.rows_total ? p.rows + " of " + p.rows_total : String(p.rows));
    text("job-bytes", bytes(p.bytes));
    text("job-rate", p.rate);
    text("job-eta", p.eta);
    text("job-elapsed", p.elapsed);
    const bar = document.getElementById("job-progress");
    if (bar && p.rows_total) { bar.max = p.rows_total; bar.value = Math.min(p.rows, p.rows_total); }
    if (p.finished && !p.waiting) {
      events.close();
      // The finished page says everything (outcome, verify link): render it.
      window.location.reload();
    }
  });
  events.onerror = () => { /* EventSource reconnects by itself */ };
}

function pickInstants(svg) {
  const from = Number(svg.dataset.fromMs), to = Number(svg.dataset.toMs);
  const input = document.querySelector("#restore-form input[name=instant]");
  const snapshot = document.querySelector("#restore-form select[name=snapshot]");
  const choice = svg.querySelector("line.choice");
  svg.addEventListener("click", (e) => {
    const box = svg.getBoundingClientRect();
    const ratio = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    const target = e.target.closest ? e.target.closest("circle.snapshot") : null;
    const ms = target ? Number(target.dataset.timeMs) : Math.round(from + ratio * (to - from));
    if (choice) { const x = String(ratio * 1000); choice.setAttribute("x1", x); choice.setAttribute("x2", x); }
    if (target && snapshot) { snapshot.value = target.dataset.snapshot; if (input) input.value = ""; return; }
    if (input) { input.value = new Date(ms).toISOString(); }
    if (snapshot) snapshot.value = "";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job");
  if (job && job.dataset.live) followJob(job);
  const svg = document.getElementById("timeline");
  if (svg) pickInstants(svg);
});
