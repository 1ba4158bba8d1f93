// dittoedu CurveDrawer: the browser side (an anywidget ES module; no imports, no CDN).
//
// A stroke is drawn into a copy of the curve while the mouse is down; on pointer-up it is
// smoothed (optional) and sent to Python once. The traitlets are documented in curve.py.
// The small pure functions are exported so that they can be tested with node.

const PAD = { left: 48, right: 10, top: 22, bottom: 20 };
const PLOT_H = 150;

export function clamp01(v) {
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

/** Set values[i] for every i from i0 to i1 on the straight line from (i0, v0) to (i1, v1): a fast
 * stroke skips indices between two pointer samples, this fills them in. Returns a new array. */
export function strokeTo(values, i0, v0, i1, v1) {
  const out = values.slice();
  const n = out.length;
  const steps = Math.abs(i1 - i0);
  for (let k = 0; k <= steps; k++) {
    const i = i0 + Math.sign(i1 - i0) * k;
    if (i >= 0 && i < n) out[i] = clamp01(steps ? v0 + ((v1 - v0) * k) / steps : v1);
  }
  return out;
}

/** A moving average of `window` points (odd; shrunk at the ends) applied to indices lo..hi. */
export function smoothRange(values, lo, hi, window) {
  const half = Math.floor(window / 2);
  const out = values.slice();
  if (half < 1) return out;
  const n = values.length;
  for (let i = Math.max(0, lo); i <= Math.min(n - 1, hi); i++) {
    let sum = 0, count = 0;
    for (let j = Math.max(0, i - half); j <= Math.min(n - 1, i + half); j++) {
      sum += values[j];
      count++;
    }
    out[i] = sum / count;
  }
  return out;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el: host }) {
  const root = el("div", "ditto-widget ditto-curve");
  const bar = el("div", "ditto-toolbar");
  const title = el("span", "ditto-title");
  const smoothLabel = el("label", "ditto-field");
  const smooth = el("input");
  smooth.type = "checkbox";
  smoothLabel.append(smooth, document.createTextNode(" smooth"));
  const reset = el("button", "ditto-btn", "Reset");
  reset.type = "button";
  reset.title = "Make the curve flat again";
  bar.append(title, smoothLabel, reset);
  const canvas = el("canvas", "ditto-canvas");
  canvas.setAttribute("role", "img");
  const hint = el("div", "ditto-hint", "Press and move the mouse over the plot to draw the curve");
  const error = el("div", "ditto-error");
  error.setAttribute("role", "alert");
  root.append(bar, canvas, hint, error);
  host.append(root);

  let stroke = null; // {values, last: [i, v], lo, hi} while the mouse is down
  let frame = 0;

  const n = () => model.get("points");
  const plotW = () => Math.max(360, Math.min(720, n() * 10));
  const size = () => [PAD.left + plotW() + PAD.right, PAD.top + PLOT_H + PAD.bottom];
  const xOf = (i) => PAD.left + ((i + 0.5) * plotW()) / n();
  const yOf = (v) => PAD.top + (1 - v) * PLOT_H;

  function draw() {
    frame = 0;
    const [w, h] = size();
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = w + "px";
      canvas.style.height = h + "px";
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, w, h);
    const pw = plotW();
    // grid: quarters of the range, bar lines
    g.font = "10px sans-serif";
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      g.fillStyle = v === 0 || v === 1 ? "#9aa3af" : "#e5e8ec";
      g.fillRect(PAD.left, Math.round(yOf(v)), pw, 1);
      g.fillStyle = "#4b5563";
      g.fillText(v === 1 ? model.get("high_label") || "1" : v === 0 ? model.get("low_label") || "0" : String(v),
        PAD.left - 6, yOf(v));
    }
    const bars = model.get("bars");
    g.textAlign = "left";
    for (let b = 0; b <= bars && bars > 0; b++) {
      const x = Math.round(PAD.left + (b * pw) / bars);
      g.fillStyle = b === 0 || b === bars ? "#9aa3af" : "#c3c9d2";
      g.fillRect(x, PAD.top, 1, PLOT_H);
      if (b < bars) {
        g.fillStyle = "#4b5563";
        g.fillText(`bar ${b + 1}`, x + 3, PAD.top + PLOT_H + 10);
      }
    }
    // the curve, with the area under it
    const values = stroke ? stroke.values : model.get("values");
    g.beginPath();
    g.moveTo(xOf(0), yOf(0));
    values.forEach((v, i) => g.lineTo(xOf(i), yOf(v)));
    g.lineTo(xOf(values.length - 1), yOf(0));
    g.closePath();
    g.fillStyle = "rgba(37, 99, 235, 0.12)";
    g.fill();
    g.beginPath();
    values.forEach((v, i) => (i ? g.lineTo(xOf(i), yOf(v)) : g.moveTo(xOf(i), yOf(v))));
    g.strokeStyle = "#2563eb";
    g.lineWidth = 2;
    g.lineJoin = "round";
    g.stroke();
    if (values.length <= 96) {
      g.fillStyle = "#1e3a8a";
      values.forEach((v, i) => g.fillRect(xOf(i) - 1.5, yOf(v) - 1.5, 3, 3));
    }
  }

  const redraw = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };

  function sample(e) {
    const r = canvas.getBoundingClientRect();
    const [w, h] = size();
    const x = ((e.clientX - r.left) * w) / r.width, y = ((e.clientY - r.top) * h) / r.height;
    const i = Math.min(n() - 1, Math.max(0, Math.floor(((x - PAD.left) * n()) / plotW())));
    return [i, clamp01(1 - (y - PAD.top) / PLOT_H)];
  }

  function extend(e) {
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const [i, v] = sample(ev);
      stroke.values = strokeTo(stroke.values, stroke.last[0], stroke.last[1], i, v);
      stroke.last = [i, v];
      stroke.lo = Math.min(stroke.lo, i);
      stroke.hi = Math.max(stroke.hi, i);
    }
    hint.textContent = `point ${stroke.last[0] + 1} of ${n()}: ${stroke.last[1].toFixed(2)}`;
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const [i, v] = sample(e);
    stroke = { values: model.get("values").slice(), last: [i, v], lo: i, hi: i };
    stroke.values[i] = v;
    redraw();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!stroke) return;
    extend(e);
    redraw();
  });
  function finish(cancelled) {
    if (!stroke) return;
    let values = stroke.values;
    const win = model.get("smooth_window");
    if (model.get("smooth") && win > 1) {
      const half = Math.floor(win / 2);
      values = smoothRange(values, stroke.lo - half, stroke.hi + half, win);
    }
    stroke = null;
    if (!cancelled) {
      model.set("values", values);
      model.save_changes();
    }
    redraw();
  }
  canvas.addEventListener("pointerup", () => finish(false));
  canvas.addEventListener("pointercancel", () => finish(true));

  reset.addEventListener("click", () => {
    model.set("values", new Array(n()).fill(model.get("default")));
    model.save_changes();
  });
  smooth.addEventListener("change", () => {
    model.set("smooth", smooth.checked);
    model.save_changes();
  });

  function sync() {
    title.textContent = model.get("label");
    canvas.setAttribute("aria-label", `${model.get("label")} curve`);
    smooth.checked = model.get("smooth");
    const msg = model.get("error");
    error.textContent = msg;
    error.classList.toggle("ditto-show", !!msg);
    redraw();
  }
  const events = "change:values change:points change:label change:bars change:smooth change:low_label " +
    "change:high_label change:error";
  model.on(events, sync);
  sync();

  return () => {
    model.off(events, sync);
    if (frame) cancelAnimationFrame(frame);
  };
}

export default { render };
