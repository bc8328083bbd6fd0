// resloop teaching page: sliders, the dosing schedule they make, and the figure.
// Reads LIVE (what the story gives: drugs, doses, interval, loop parameter, species)
// and LIVE_MODEL (the generated model); runs simulate() from live_solver.js.
"use strict";

const L = LIVE.live, M = LIVE_MODEL;
const DAY = 24 / L.hours_per_unit; // model time units per day
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : String(+v.toPrecision(3)));
const days = (t) => t / DAY;

// ---- sliders ---------------------------------------------------------------------
const sliders = [];
function slider(id, label, min, max, step, value, show, toValue) {
  const row = document.createElement("label");
  row.className = "slider";
  row.innerHTML = `<span class="name"></span><input type="range"><span class="value"></span>`;
  row.querySelector(".name").textContent = label;
  const input = row.querySelector("input");
  Object.assign(input, { id, min, max, step });
  input.value = value;
  const out = row.querySelector(".value");
  // show(value, raw slider position) is the text beside the slider.
  const s = { id, input, value: () => toValue(+input.value), update: () => { out.textContent = show(toValue(+input.value), +input.value); } };
  s.update();
  input.addEventListener("input", () => { s.update(); rerun(); });
  document.getElementById("controls").appendChild(row);
  sliders.push(s);
  return s;
}

// Dose: log scale, 1/100 to 10 times the story's dose.
const doseLo = Math.log10(L.drug.dose / 100), doseHi = Math.log10(L.drug.dose * 10);
const sDose = slider("dose", `${L.drug.name} dose`, 0, 150, 1, Math.round((150 * (Math.log10(L.drug.dose) - doseLo)) / (doseHi - doseLo)),
  (v) => `${fmt(v)} ${L.drug.unit}`, (x) => Math.pow(10, doseLo + ((doseHi - doseLo) * x) / 150));
// Interval in hours, 12 h steps, up to 4 times the story's (at least a week).
const intH = L.interval * L.hours_per_unit;
const sInt = slider("interval", L.setting === "in_vitro" ? "medium change every" : "dose every", 12, Math.max(4 * intH, 168), 12, Math.max(12, Math.round(intH / 12) * 12),
  (v, h) => (h % 24 === 0 ? `${h / 24} d` : `${h} h`), (h) => h / L.hours_per_unit);
const P = L.loop_parameter;
const sLoop = slider("loop", `loop strength (${P.name})`, P.min, P.max, (P.max - P.min) / 200 || 0.01, P.value,
  (v) => `${fmt(v)}${P.unit && P.unit !== "1" ? " " + P.unit : ""}`, (v) => v);
sLoop.input.title = P.note;
const durDays = Math.round(days(L.duration));
const sStart = L.breaker ? slider("start", `${L.breaker.name} (${fmt(L.breaker.dose)} ${L.breaker.unit}) from day`, 0, durDays, 1, Math.min(durDays, Math.round(days(L.breaker_start))),
  (v, d) => (d >= durDays ? "never" : `${d}`), (d) => (d >= durDays ? Infinity : d * DAY)) : null;

function settings() {
  return { dose: sDose.value(), interval: sInt.value(), loop: sLoop.value(), start: sStart ? sStart.value() : Infinity };
}

// ---- figure (SVG) ------------------------------------------------------------------
const W = 1000, LEFT = 70, RIGHT = 250, PW = W - LEFT - RIGHT;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function niceTicks(lo, hi) {
  const span = hi - lo || 1, raw = span / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => span / s <= 6);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
  return out;
}

// One panel: series [{label, colour, dashed, points: [[day, value]]}], optional
// horizontal lines, bands [{from, to, label, colour}] (days), log or linear y.
// A log axis shows at most 12 decades and nothing below `floor` (less than a cell
// means nothing in a population; the mean field still carries it).
function panel(top, height, title, ylabel, log, series, hlines, bands, floor) {
  const xMax = days(L.duration);
  let vals = [];
  for (const s of series) for (const p of s.points) if (Number.isFinite(p[1]) && (!log || p[1] > 0)) vals.push(p[1]);
  for (const h of hlines) vals.push(h.value);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (!vals.length) { lo = log ? 1 : 0; hi = log ? 10 : 1; }
  if (log) {
    lo = Math.max(lo, hi * 1e-12, floor || 0);
    lo = Math.pow(10, Math.floor(Math.log10(lo))); hi = Math.pow(10, Math.ceil(Math.log10(hi)));
    if (hi <= lo) hi = lo * 10;
  } else {
    if (lo > 0) lo = 0;
    if (hi <= lo) hi = lo + 1;
    hi *= 1.05;
  }
  const X = (d) => LEFT + (PW * d) / xMax;
  const Y = log ? (v) => top + height - (height * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo))
    : (v) => top + height - (height * (v - lo)) / (hi - lo);
  let g = `<g class="panel"><text class="title" x="${LEFT}" y="${top - 8}">${esc(title)}</text>`;
  bands.forEach((b, i) => {
    g += `<rect class="band" x="${X(b.from).toFixed(1)}" y="${top + 4 + 14 * i}" width="${Math.max(0, X(b.to) - X(b.from)).toFixed(1)}" height="12" fill="${b.colour}"/>` +
      `<text class="bandlabel" x="${(X(b.from) + 4).toFixed(1)}" y="${top + 14 + 14 * i}">${esc(b.label)}</text>`;
    if (b.from > 0) g += `<line class="start" x1="${X(b.from).toFixed(1)}" x2="${X(b.from).toFixed(1)}" y1="${top}" y2="${top + height}"/>`;
  });
  g += `<rect class="frame" x="${LEFT}" y="${top}" width="${PW}" height="${height}"/>`;
  const yt = log ? (() => { const t = [], a = Math.log10(lo), b = Math.log10(hi), st = Math.max(1, Math.ceil((b - a) / 8)); for (let e = a; e <= b; e += st) t.push(Math.pow(10, e)); return t; })() : niceTicks(lo, hi);
  for (const v of yt) g += `<text class="tick" x="${LEFT - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${log ? "1e" + Math.round(Math.log10(v)) : fmt(v)}</text><line class="grid" x1="${LEFT}" x2="${LEFT + PW}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}"/>`;
  for (const v of niceTicks(0, xMax)) g += `<text class="tick" x="${X(v).toFixed(1)}" y="${top + height + 14}" text-anchor="middle">${fmt(v)}</text>`;
  g += `<text class="ylabel" transform="translate(16 ${top + height / 2}) rotate(-90)" text-anchor="middle">${esc(ylabel)}</text>`;
  for (const h of hlines) g += `<line class="detection" x1="${LEFT}" x2="${LEFT + PW}" y1="${Y(h.value).toFixed(1)}" y2="${Y(h.value).toFixed(1)}"/><text class="tick" x="${LEFT + PW - 4}" y="${(Y(h.value) - 4).toFixed(1)}" text-anchor="end">${esc(h.label)}</text>`;
  series.forEach((s, i) => {
    const d = s.points.filter((p) => Number.isFinite(p[1])).map((p, k) => `${k ? "L" : "M"}${X(p[0]).toFixed(1)} ${Y(p[1]).toFixed(1)}`).join("");
    g += `<path class="line${s.dashed ? " dashed" : ""}" d="${d}" stroke="${s.colour}"/>`;
    g += `<line x1="${W - RIGHT + 10}" x2="${W - RIGHT + 34}" y1="${top + 8 + 16 * i}" y2="${top + 8 + 16 * i}" stroke="${s.colour}" class="line${s.dashed ? " dashed" : ""}"/><text class="legend" x="${W - RIGHT + 40}" y="${top + 12 + 16 * i}">${esc(s.label)}</text>`;
  });
  return g + "</g>";
}

function draw(s, alone, combo) {
  const n = M.species.length, st = n + 1, ng = M.genotypes.length;
  const cells = (r) => r.times.map((t, k) => { let c = 0; for (let g = 0; g < ng; g++) c += r.states[k][g * st + n]; return [days(t), c]; });
  const col = (r, j) => r.times.map((t, k) => [days(t), r.states[k][j]]);
  const breaker = L.breaker && s.start < L.duration;
  const withLabel = L.breaker ? `+ ${L.breaker.name}` : "combination";
  const bands = [{ from: 0, to: days(L.duration), label: `${L.drug.name} ${fmt(s.dose)} ${L.drug.unit} every ${fmt(days(s.interval))} d`, colour: "#fde0c5" }];
  if (breaker) bands.push({ from: days(Math.ceil(s.start / s.interval - 1e-9) * s.interval), to: days(L.duration), label: `${L.breaker.name} ${fmt(L.breaker.dose)} ${L.breaker.unit}`, colour: "#d4ecd4" });
  const hl = L.detection_cells ? [{ value: L.detection_cells, label: L.detection_label || `detection (${fmt(L.detection_cells)} cells)` }] : [];
  let svg = "", top = 40;
  const cellsTitle = L.setting === "in_vitro" ? "Cells in the culture (never passaged)" : "Cells in the tumour";
  svg += panel(top, 260, cellsTitle, "cells", true, [
    { label: "drug alone", colour: COLOURS[0], points: cells(alone) },
    { label: withLabel, colour: COLOURS[2], dashed: true, points: cells(combo) },
  ], hl, bands, 1);
  top += 260 + 60;
  const units = [];
  L.species.forEach((i) => { if (!units.includes(M.species[i].unit)) units.push(M.species[i].unit); });
  for (const u of units) {
    const ser = [];
    L.species.forEach((i, k) => {
      if (M.species[i].unit !== u) return;
      ser.push({ label: `${M.species[i].name} (alone)`, colour: COLOURS[k % COLOURS.length], points: col(alone, i) });
      ser.push({ label: `${M.species[i].name} (${withLabel})`, colour: COLOURS[k % COLOURS.length], dashed: true, points: col(combo, i) });
    });
    svg += panel(top, 170, `Key loop species of ${M.genotypes[0].name} (${u}); solid: drug alone, dashed: ${withLabel}`, u, false, ser, [], []);
    top += 170 + 60;
  }
  if (ng > 1) {
    const ser = [];
    M.genotypes.forEach((g, k) => {
      ser.push({ label: `${g.name} (alone)`, colour: COLOURS[k % COLOURS.length], points: col(alone, k * st + n) });
      ser.push({ label: `${g.name} (${withLabel})`, colour: COLOURS[k % COLOURS.length], dashed: true, points: col(combo, k * st + n) });
    });
    svg += panel(top, 170, `Cells of each genotype (mean field); solid: drug alone, dashed: ${withLabel}`, "cells", true, ser, [], [], 0.5);
    top += 170 + 60;
  }
  svg += `<text class="tick" x="${LEFT + PW / 2}" y="${top - 30}" text-anchor="middle">time (days)</text>`;
  document.getElementById("figure").innerHTML = `<svg id="fig" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${top}" width="${W}" height="${top}">${svg}</svg>`;
}

// ---- rerun ---------------------------------------------------------------------------
const timings = [];
function rerun() {
  const t0 = performance.now();
  const s = settings();
  const status = document.getElementById("status");
  try {
    const alone = simulate(M, liveSetup(L, LIVE, s, false));
    const combo = L.breaker && s.start < L.duration ? simulate(M, liveSetup(L, LIVE, s, true)) : alone;
    draw(s, alone, combo);
    const ms = performance.now() - t0;
    timings.push(ms);
    const steps = alone.stats.accepted + (combo === alone ? 0 : combo.stats.accepted);
    status.textContent = `reran in ${ms.toFixed(1)} ms (${combo === alone ? 1 : 2} runs, ${steps} steps)`;
    status.className = "";
  } catch (e) {
    status.textContent = `the model failed: ${e.message}`;
    status.className = "error";
  }
}

// `live.html#selftest` (CI in headless Chromium): the figure is there, and moving
// each slider (an input event, as a hand would) changes it; the verdict and the time
// per rerun go to <body data-selftest="...">.
function selftest() {
  const fig = () => document.getElementById("figure").innerHTML;
  const fail = (why) => { document.body.dataset.selftest = "fail: " + why; };
  if (!document.querySelector("#fig path.line")) return fail("no figure");
  if (document.getElementById("status").className === "error") return fail(document.getElementById("status").textContent);
  for (const s of sliders) {
    const before = fig(), i = s.input, lo = +i.min, hi = +i.max;
    const target = lo + (hi - lo) / 4;
    i.value = Math.abs(+i.value - target) > (hi - lo) / 10 ? target : lo + (3 * (hi - lo)) / 4;
    i.dispatchEvent(new Event("input"));
    if (document.getElementById("status").className === "error") return fail(`slider ${s.id}: ${document.getElementById("status").textContent}`);
    if (fig() === before) return fail(`moving slider ${s.id} changed nothing`);
  }
  const sorted = timings.slice().sort((a, b) => a - b), median = sorted[Math.floor(sorted.length / 2)];
  document.body.dataset.selftest = `ok: figure; ${sliders.length} sliders each change it; ${median.toFixed(1)} ms per rerun (median of ${timings.length})`;
}

window.addEventListener("error", (e) => { document.body.dataset.selftest = "fail: script error " + e.message; });
rerun();
window.addEventListener("load", () => { if (location.hash === "#selftest") selftest(); });
