// resloop report: sortable tables and the timeline explorer (hover values, series
// on and off, log or linear axis). Plain JavaScript, no library, works offline.
"use strict";

function sortTable(table, col) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const asc = table.dataset.sortCol === String(col) ? table.dataset.sortDir !== "asc" : true;
  const key = (r) => {
    const t = r.cells[col] ? r.cells[col].textContent.trim() : "";
    const v = parseFloat(t);
    return isNaN(v) || !/^[-+0-9.]/.test(t) ? t.toLowerCase() : v;
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
    return asc ? c : -c;
  });
  rows.forEach((r) => body.appendChild(r));
  table.dataset.sortCol = String(col);
  table.dataset.sortDir = asc ? "asc" : "desc";
}

function initTables() {
  document.querySelectorAll("table.sortable").forEach((t) => {
    Array.from(t.tHead.rows[0].cells).forEach((th, i) => th.addEventListener("click", () => sortTable(t, i)));
  });
}

// Colours of plotters' Palette99 that stay legible on white (as in the PNG figures).
const COLOURS = ["#e6194b", "#3cb44b", "#0082c8", "#f58230", "#911eb4", "#f032e6", "#008080", "#aa6e28", "#800000", "#808000", "#000080", "#808080", "#000000"];

function fmt(v) {
  if (v === null) return "-";
  if (!isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(3).replace(/\.?0+e/, "e") : String(+v.toPrecision(4));
}

function initExplorer() {
  const holder = document.getElementById("explorer");
  const dataEl = document.getElementById("timeline-data");
  if (!holder || !dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const list = holder.querySelector(".series");
  const svg = holder.querySelector("svg");
  const tip = holder.querySelector(".tip");
  const logBox = document.getElementById("explorer-log");
  const W = 820, H = 440, L = 70, R = 12, T = 12, B = 40;
  const on = data.series.map((s) => s.on);
  data.series.forEach((s, i) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = s.on;
    box.dataset.index = i;
    box.addEventListener("change", () => { on[i] = box.checked; draw(); });
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = COLOURS[i % COLOURS.length];
    label.append(box, sw, document.createTextNode(" " + s.name + (s.unit ? " (" + s.unit + ")" : "")));
    list.appendChild(label);
  });
  logBox.addEventListener("change", draw);
  let scale = null;
  function draw() {
    const log = logBox.checked;
    const shown = data.series.map((s, i) => i).filter((i) => on[i]);
    let lo = Infinity, hi = -Infinity;
    const tx = (v) => (v === null ? NaN : log ? (v > 0 ? Math.log10(v) : NaN) : v);
    shown.forEach((i) => data.series[i].values.forEach((v) => {
      const y = tx(v);
      if (isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    }));
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-12) { hi = lo + 1; }
    const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
    const t = data.times, t0 = t[0], t1 = t[t.length - 1] || 1;
    const X = (x) => L + (W - L - R) * (x - t0) / ((t1 - t0) || 1);
    const Y = (y) => T + (H - T - B) * (1 - (y - lo) / (hi - lo));
    scale = { X, Y, lo, hi, log, t0, t1 };
    let s = "";
    for (let k = 0; k <= 5; k++) {
      const yv = lo + (hi - lo) * k / 5, y = Y(yv);
      s += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/>`;
      s += `<text x="${L - 6}" y="${y + 4}" text-anchor="end" font-size="11">${fmt(log ? Math.pow(10, yv) : yv)}</text>`;
      const xv = t0 + (t1 - t0) * k / 5, x = X(xv);
      s += `<line x1="${x}" x2="${x}" y1="${T}" y2="${H - B}" stroke="#eee"/>`;
      s += `<text x="${x}" y="${H - B + 16}" text-anchor="middle" font-size="11">${fmt(xv)}</text>`;
    }
    s += `<text x="${(L + W) / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${data.time_label}</text>`;
    s += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`;
    shown.forEach((i) => {
      let d = "", pen = false;
      data.series[i].values.forEach((v, k) => {
        const y = tx(v);
        if (!isFinite(y)) { pen = false; return; }
        d += (pen ? "L" : "M") + X(t[k]).toFixed(1) + " " + Y(y).toFixed(1);
        pen = true;
      });
      s += `<path d="${d}" fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="1.8"/>`;
    });
    s += `<line id="cursor" x1="0" x2="0" y1="${T}" y2="${H - B}" stroke="#444" stroke-dasharray="3 3" visibility="hidden"/>`;
    svg.innerHTML = s;
  }
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.addEventListener("mousemove", (ev) => {
    if (!scale) return;
    const r = svg.getBoundingClientRect();
    const x = (ev.clientX - r.left) * W / r.width;
    const t = data.times;
    const tv = scale.t0 + (x - L) / (W - L - R) * (scale.t1 - scale.t0);
    let k = 0, best = Infinity;
    t.forEach((v, j) => { const d = Math.abs(v - tv); if (d < best) { best = d; k = j; } });
    const c = svg.querySelector("#cursor");
    c.setAttribute("x1", scale.X(t[k])); c.setAttribute("x2", scale.X(t[k]));
    c.setAttribute("visibility", "visible");
    const parts = data.series.map((s, i) => (on[i] ? `${s.name} ${fmt(s.values[k])}` : null)).filter((p) => p);
    tip.textContent = `${data.time_label.replace("time ", "t ")} = ${fmt(t[k])}: ` + parts.join(", ");
  });
  draw();
}

// `page.html#selftest` (used by CI in headless Chromium): check the page works and
// write the verdict into <body data-selftest="...">: figures decode, tables are
// there, and in the explorer a toggled series and a hover change what is shown.
function selftest() {
  const fail = (why) => { document.body.dataset.selftest = "fail: " + why; };
  const imgs = Array.from(document.images);
  if (imgs.some((i) => !i.complete || i.naturalWidth === 0)) return fail("a figure did not decode");
  const svg = document.querySelector("#explorer svg");
  if (svg) {
    const before = svg.innerHTML;
    const box = document.querySelector("#explorer .series input");
    if (!box) return fail("the explorer lists no series");
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
    if (svg.innerHTML === before) return fail("toggling a series changed nothing");
    const r = svg.getBoundingClientRect();
    svg.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 }));
    if (!document.querySelector("#explorer .tip").textContent) return fail("hover shows no value");
  }
  document.body.dataset.selftest = `ok: ${imgs.length} figures, ${document.querySelectorAll("table").length} tables` + (svg ? ", explorer" : "");
}

window.addEventListener("error", (e) => { document.body.dataset.selftest = "fail: script error " + e.message; });
document.addEventListener("DOMContentLoaded", () => { initTables(); initExplorer(); });
window.addEventListener("load", () => { if (location.hash === "#selftest") selftest(); });
