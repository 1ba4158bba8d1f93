// dittoedu PianoRollDrawer: the browser side (an anywidget ES module; no imports, no CDN).
//
// The drawing lives in this view while the mouse is down and is sent to Python once, on
// pointer-up (model.set + model.save_changes). The traitlets are documented in piano_roll.py.
// The small pure functions are exported so that they can be tested with node.

const NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const LABEL_W = 38; // pitch names on the left
const HEAD_H = 18; // bar numbers on top
const CELL_H = 13;

export function pitchName(p) {
  return NAMES[((p % 12) + 12) % 12] + (Math.floor(p / 12) - 1);
}

export function isBlackKey(p) {
  return [1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12);
}

/** Whether two notes [pitch, onset, duration] sound at the same time. */
export function overlaps(a, b) {
  return a[1] < b[1] + b[2] && b[1] < a[1] + a[2];
}

/** Index of the note sounding on `pitch` at `step`, or -1. */
export function noteAt(notes, pitch, step) {
  for (let i = notes.length - 1; i >= 0; i--) {
    const [p, o, d] = notes[i];
    if (p === pitch && o <= step && step < o + d) return i;
  }
  return -1;
}

/** `notes` with `note` drawn in: the notes it overlaps go (all of them when monophonic,
 * else those on its pitch). Same rule as add_note in piano_roll.py. */
export function addNote(notes, note, monophonic) {
  const kept = notes.filter((n) => !(overlaps(n, note) && (monophonic || n[0] === note[0])));
  kept.push(note.slice());
  return kept.map((n) => n.slice()).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
}

/** [onset, duration] of a note pressed at step `start` and dragged to step `step`, on a grid of `snap` steps. */
export function dragSpan(start, step, snap, total) {
  const onset = Math.min(Math.floor(start / snap) * snap, total - 1);
  let end = Math.ceil((Math.max(step, start) + 1) / snap) * snap;
  end = Math.min(Math.max(end, onset + snap), total);
  return [onset, Math.max(1, end - onset)];
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label, title) {
  const b = el("button", "ditto-btn", label);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

function render({ model, el: host }) {
  const root = el("div", "ditto-widget ditto-pianoroll");
  const bar = el("div", "ditto-toolbar");
  const drawBtn = button("✎ Draw", "Press and drag to draw a note; click a note to erase it");
  const eraseBtn = button("⌫ Erase", "Erase every note you click or drag over");
  const modes = el("span", "ditto-segmented");
  modes.append(drawBtn, eraseBtn);

  const snapLabel = el("label", "ditto-field", "Snap ");
  const snapSel = el("select", "ditto-select");
  for (const [v, name] of [[1, "1/16"], [2, "1/8"], [4, "1/4"]]) {
    const o = el("option", null, name);
    o.value = String(v);
    snapSel.append(o);
  }
  snapLabel.append(snapSel);

  const monoLabel = el("label", "ditto-field");
  const mono = el("input");
  mono.type = "checkbox";
  monoLabel.append(mono, document.createTextNode(" one note at a time"));

  const tempoLabel = el("label", "ditto-field", "♩= ");
  const tempo = el("input", "ditto-number");
  tempo.type = "number";
  tempo.min = "20";
  tempo.max = "400";
  tempoLabel.append(tempo);

  const playBtn = button("▶ Play", "Play the drawing");
  const undoBtn = button("↶ Undo", "Take back the last change");
  const clearBtn = button("Clear", "Erase every note");
  bar.append(modes, snapLabel, monoLabel, playBtn, tempoLabel, undoBtn, clearBtn);

  const scroll = el("div", "ditto-scroll");
  const canvas = el("canvas", "ditto-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "piano roll");
  scroll.append(canvas);
  const status = el("div", "ditto-hint");
  const error = el("div", "ditto-error");
  error.setAttribute("role", "alert");
  root.append(bar, scroll, status, error);
  host.append(root);

  const HINT = "Press and drag right to draw a note · click a note to erase it";
  let hover = null; // {pitch, step}
  let action = null; // what the pointer is doing
  let history = []; // earlier drawings, for Undo
  let playing = null;
  let audioCtx = null;
  let frame = 0;

  const steps = () => model.get("bars") * model.get("steps_per_bar");
  const low = () => model.get("low");
  const high = () => model.get("high");
  const cellW = () => Math.max(7, Math.min(22, Math.floor(880 / steps())));
  const size = () => [LABEL_W + steps() * cellW() + 1, HEAD_H + (high() - low() + 1) * CELL_H + 1];

  function shownNotes() {
    if (action && action.kind === "draw") return addNote(action.base, action.note, model.get("monophonic"));
    if (action && action.kind === "erase") return action.notes;
    return model.get("notes");
  }

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
    const cw = cellW(), T = steps(), spb = model.get("steps_per_bar");
    const lo = low(), hi = high();
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, w, h);
    // rows: black keys shaded, C rows marked
    for (let p = hi; p >= lo; p--) {
      const y = HEAD_H + (hi - p) * CELL_H;
      g.fillStyle = isBlackKey(p) ? "#eef1f5" : "#ffffff";
      g.fillRect(LABEL_W, y, T * cw, CELL_H);
      if (hover && hover.pitch === p) {
        g.fillStyle = "rgba(37, 99, 235, 0.07)";
        g.fillRect(LABEL_W, y, T * cw, CELL_H);
      }
      g.fillStyle = isBlackKey(p) ? "#4b5563" : "#1f2937";
      g.font = (p % 12 === 0 ? "bold " : "") + "10px sans-serif";
      g.textAlign = "right";
      g.textBaseline = "middle";
      g.fillText(pitchName(p), LABEL_W - 5, y + CELL_H / 2 + 0.5);
      g.fillStyle = p % 12 === 0 ? "#b8c0cc" : "#e5e8ec";
      g.fillRect(LABEL_W, y + CELL_H - 1, T * cw, 1);
    }
    // columns: steps, beats, bars
    for (let t = 0; t <= T; t++) {
      const x = LABEL_W + t * cw;
      g.fillStyle = t % spb === 0 ? "#6b7280" : t % 4 === 0 ? "#c3c9d2" : "#eceff3";
      g.fillRect(x - (t % spb === 0 ? 0.5 : 0), HEAD_H, t % spb === 0 ? 1.5 : 1, h - HEAD_H);
    }
    g.fillStyle = "#f7f8fa";
    g.fillRect(0, 0, w, HEAD_H);
    g.fillStyle = "#1f2937";
    g.font = "10px sans-serif";
    g.textAlign = "left";
    g.textBaseline = "middle";
    for (let b = 0; b * spb < T; b++) g.fillText(String(b + 1), LABEL_W + b * spb * cw + 3, HEAD_H / 2);
    g.fillStyle = "#9aa3af";
    for (let t = 4; t < T; t += 4) if (t % spb) g.fillRect(LABEL_W + t * cw, HEAD_H - 4, 1, 4);
    g.fillStyle = "#d0d5dc";
    g.fillRect(0, HEAD_H - 1, w, 1);
    g.fillRect(LABEL_W - 1, 0, 1, h);
    // notes
    for (const [p, o, d] of shownNotes()) {
      if (p < lo || p > hi) continue;
      const x = LABEL_W + o * cw + 1, y = HEAD_H + (hi - p) * CELL_H + 1;
      const pending = action && action.kind === "draw" && action.note[0] === p && action.note[1] === o;
      g.fillStyle = pending ? "#60a5fa" : "#2563eb";
      g.fillRect(x, y, Math.max(2, d * cw - 2), CELL_H - 3);
      g.fillStyle = "#1e3a8a";
      g.fillRect(x, y, 2, CELL_H - 3); // the onset
    }
    // the cell under the pointer
    if (hover && !action) {
      g.strokeStyle = model.get("erase") ? "#dc2626" : "#2563eb";
      g.lineWidth = 1;
      g.strokeRect(LABEL_W + hover.step * cw + 0.5, HEAD_H + (hi - hover.pitch) * CELL_H + 0.5, cw - 1, CELL_H - 2);
    }
    // playhead
    if (playing && audioCtx) {
      const pos = (audioCtx.currentTime - playing.t0) / playing.stepS;
      if (pos >= 0) {
        g.fillStyle = "#dc2626";
        g.fillRect(LABEL_W + Math.min(pos, T) * cw - 1, HEAD_H, 2, h - HEAD_H);
      }
    }
  }

  const redraw = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };

  function cellOf(e) {
    const r = canvas.getBoundingClientRect();
    const [w, h] = size();
    const x = ((e.clientX - r.left) * w) / r.width, y = ((e.clientY - r.top) * h) / r.height;
    const step = Math.floor((x - LABEL_W) / cellW());
    const pitch = high() - Math.floor((y - HEAD_H) / CELL_H);
    return { step, pitch, inside: step >= 0 && step < steps() && pitch >= low() && pitch <= high() && y >= HEAD_H };
  }

  function describe(c) {
    const spb = model.get("steps_per_bar");
    return `${pitchName(c.pitch)} · bar ${Math.floor(c.step / spb) + 1}, beat ${Math.floor((c.step % spb) / 4) + 1}`;
  }

  function commit(notes) {
    const old = model.get("notes");
    if (JSON.stringify(old) === JSON.stringify(notes)) return;
    history.push(old);
    if (history.length > 100) history.shift();
    model.set("notes", notes);
    model.save_changes();
  }

  function eraseUnder(c) {
    const i = noteAt(action.notes, c.pitch, c.step);
    if (i >= 0) action.notes = action.notes.filter((_, j) => j !== i);
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.button !== 2) return;
    const c = cellOf(e);
    if (!c.inside) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const notes = model.get("notes");
    const hit = noteAt(notes, c.pitch, c.step);
    if (model.get("erase") || e.button === 2) {
      action = { kind: "erase", notes: notes.map((n) => n.slice()) };
      eraseUnder(c);
    } else if (hit >= 0) {
      action = { kind: "click-note", index: hit, note: notes[hit] };
    } else {
      const [onset, duration] = dragSpan(c.step, c.step, model.get("snap"), steps());
      action = { kind: "draw", start: c.step, base: notes, note: [c.pitch, onset, duration] };
      blip(c.pitch);
    }
    status.textContent = describe(c);
    redraw();
  });

  canvas.addEventListener("pointermove", (e) => {
    const c = cellOf(e);
    hover = c.inside ? c : null;
    if (action && action.kind === "draw") {
      const [onset, duration] = dragSpan(action.start, c.step, model.get("snap"), steps());
      action.note = [action.note[0], onset, duration];
    } else if (action && action.kind === "erase" && c.inside) {
      eraseUnder(c);
    }
    status.textContent = hover ? describe(hover) : HINT;
    redraw();
  });

  function finish(e, cancelled) {
    if (!action) return;
    const a = action;
    action = null;
    if (!cancelled) {
      if (a.kind === "draw") commit(addNote(a.base, a.note, model.get("monophonic")));
      else if (a.kind === "erase") commit(a.notes);
      else if (a.kind === "click-note") {
        const c = cellOf(e);
        const notes = model.get("notes");
        if (noteAt(notes, c.pitch, c.step) === a.index) commit(notes.filter((_, j) => j !== a.index));
      }
    }
    redraw();
  }
  canvas.addEventListener("pointerup", (e) => finish(e, false));
  canvas.addEventListener("pointercancel", (e) => finish(e, true));
  canvas.addEventListener("pointerleave", () => {
    hover = null;
    if (!action) status.textContent = HINT;
    redraw();
  });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());

  // -- sound ----------------------------------------------------------------------------------

  function context() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    if (!audioCtx) audioCtx = new AC();
    if (audioCtx.state === "suspended") audioCtx.resume();
    return audioCtx;
  }

  function tone(ctx, dest, pitch, t0, dur, level) {
    const osc = ctx.createOscillator();
    osc.type = "triangle";
    osc.frequency.value = 440 * Math.pow(2, (pitch - 69) / 12);
    const gain = ctx.createGain();
    const attack = 0.01, release = Math.min(0.06, dur / 2);
    gain.gain.setValueAtTime(0, t0);
    gain.gain.linearRampToValueAtTime(level, t0 + attack);
    gain.gain.setValueAtTime(level, Math.max(t0 + attack, t0 + dur - release));
    gain.gain.linearRampToValueAtTime(0, t0 + dur);
    osc.connect(gain);
    gain.connect(dest);
    osc.start(t0);
    osc.stop(t0 + dur + 0.02);
    return osc;
  }

  function blip(pitch) {
    const ctx = context();
    if (ctx && !playing) tone(ctx, ctx.destination, pitch, ctx.currentTime, 0.15, 0.12);
  }

  function stop() {
    if (!playing) return;
    for (const osc of playing.oscs) {
      try {
        osc.stop();
      } catch (err) {
        /* already stopped */
      }
    }
    playing.master.disconnect();
    playing = null;
    playBtn.textContent = "▶ Play";
    playBtn.classList.remove("ditto-on");
    redraw();
  }

  function tick() {
    if (!playing) return;
    const pos = (audioCtx.currentTime - playing.t0) / playing.stepS;
    if (pos > playing.end) return stop();
    draw();
    requestAnimationFrame(tick);
  }

  playBtn.addEventListener("click", () => {
    if (playing) return stop();
    const notes = model.get("notes");
    if (!notes.length) {
      status.textContent = "Nothing to play yet: draw some notes first";
      return;
    }
    const ctx = context();
    if (!ctx) {
      status.textContent = "This browser cannot play sound (no Web Audio)";
      return;
    }
    const stepS = 60 / model.get("tempo") / 4;
    const master = ctx.createGain();
    master.gain.value = 0.25;
    master.connect(ctx.destination);
    const t0 = ctx.currentTime + 0.05;
    const oscs = notes.map(([p, o, d]) => tone(ctx, master, p, t0 + o * stepS, d * stepS, 0.5));
    playing = { oscs, master, t0, stepS, end: Math.max(...notes.map((n) => n[1] + n[2])) };
    playBtn.textContent = "■ Stop";
    playBtn.classList.add("ditto-on");
    requestAnimationFrame(tick);
  });

  // -- the other controls -------------------------------------------------------------------

  drawBtn.addEventListener("click", () => {
    model.set("erase", false);
    model.save_changes();
  });
  eraseBtn.addEventListener("click", () => {
    model.set("erase", true);
    model.save_changes();
  });
  snapSel.addEventListener("change", () => {
    model.set("snap", Number(snapSel.value));
    model.save_changes();
  });
  mono.addEventListener("change", () => {
    model.set("monophonic", mono.checked);
    model.save_changes();
  });
  tempo.addEventListener("keydown", (e) => e.stopPropagation()); // keep notebook shortcuts out of the box
  tempo.addEventListener("change", () => {
    const v = Math.round(Number(tempo.value));
    if (v >= 20 && v <= 400) {
      model.set("tempo", v);
      model.save_changes();
    } else tempo.value = String(model.get("tempo"));
  });
  undoBtn.addEventListener("click", () => {
    if (!history.length) return;
    model.set("notes", history.pop());
    model.save_changes();
  });
  clearBtn.addEventListener("click", () => {
    stop();
    commit([]);
  });

  function sync() {
    drawBtn.classList.toggle("ditto-on", !model.get("erase"));
    eraseBtn.classList.toggle("ditto-on", model.get("erase"));
    drawBtn.setAttribute("aria-pressed", String(!model.get("erase")));
    eraseBtn.setAttribute("aria-pressed", String(model.get("erase")));
    canvas.style.cursor = model.get("erase") ? "not-allowed" : "crosshair";
    snapSel.value = String(model.get("snap"));
    mono.checked = model.get("monophonic");
    tempo.value = String(model.get("tempo"));
    undoBtn.disabled = !history.length;
    const msg = model.get("error");
    error.textContent = msg;
    error.classList.toggle("ditto-show", !!msg);
    if (!hover && !action) status.textContent = HINT;
    redraw();
  }

  const events = "change:notes change:bars change:low change:high change:erase change:snap change:monophonic " +
    "change:tempo change:error";
  model.on(events, sync);
  sync();

  return () => {
    stop();
    model.off(events, sync);
    if (frame) cancelAnimationFrame(frame);
    if (audioCtx) audioCtx.close();
  };
}

export default { render };
