// dittoedu ChordPicker: the browser side (an anywidget ES module; no imports, no CDN).
//
// Python owns the music theory: it sends the palette of the key (`palette`), the keys of the menu
// (`key_menu`) and which bars hold a chord it cannot read (`bad_bars`, `error`). This view only shows
// them and writes the student's picks into `chords` (one string per bar) and `selected`.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** `chords` with bar `i` set to `chord`; a new array (Backbone sees no change in a mutated one). */
export function withChord(chords, i, chord) {
  const out = chords.slice();
  out[i] = chord;
  return out;
}

function render({ model, el: host }) {
  const root = el("div", "ditto-widget ditto-chords");

  const top = el("div", "ditto-toolbar");
  const keyLabel = el("label", "ditto-field", "Key ");
  const keySel = el("select", "ditto-select");
  keyLabel.append(keySel);
  const clearBar = el("button", "ditto-btn", "Clear bar");
  clearBar.type = "button";
  const clearAll = el("button", "ditto-btn", "Clear all");
  clearAll.type = "button";
  top.append(keyLabel, clearBar, clearAll);

  const bars = el("div", "ditto-bars");
  const palette = el("div", "ditto-palette");
  palette.setAttribute("aria-label", "chords of the key");

  const typeRow = el("div", "ditto-toolbar");
  const typeLabel = el("label", "ditto-field", "Other chord ");
  const input = el("input", "ditto-input");
  input.type = "text";
  input.placeholder = "G7, Fmaj7, V7…";
  input.spellcheck = false;
  input.autocomplete = "off";
  typeLabel.append(input);
  const setBtn = el("button", "ditto-btn", "Set");
  setBtn.type = "button";
  typeRow.append(typeLabel, setBtn);

  const hint = el("div", "ditto-hint", "Click a bar, then a chord; the next bar is selected after each pick");
  const error = el("div", "ditto-error");
  error.setAttribute("role", "alert");
  root.append(top, bars, palette, typeRow, hint, error);
  host.append(root);

  const selected = () => Math.max(0, Math.min(model.get("selected"), model.get("bars") - 1));

  function pick(chord) {
    const i = selected();
    model.set("chords", withChord(model.get("chords"), i, chord));
    if (chord) model.set("selected", Math.min(i + 1, model.get("bars") - 1));
    model.save_changes();
  }

  function drawBars() {
    const chords = model.get("chords");
    const bad = new Set(model.get("bad_bars"));
    const sel = selected();
    bars.replaceChildren();
    for (let i = 0; i < model.get("bars"); i++) {
      const slot = el("button", "ditto-slot");
      slot.type = "button";
      const chord = chords[i] || "";
      slot.append(el("span", "ditto-slot-label", `bar ${i + 1}`));
      slot.append(el("span", "ditto-slot-chord" + (chord ? "" : " ditto-empty"), chord || "—"));
      slot.classList.toggle("ditto-selected", i === sel);
      slot.classList.toggle("ditto-bad", bad.has(i));
      slot.setAttribute("aria-pressed", String(i === sel));
      slot.title = chord ? `bar ${i + 1}: ${chord}` : `bar ${i + 1}: no chord yet`;
      slot.addEventListener("click", () => {
        model.set("selected", i);
        model.save_changes();
        input.value = chords[i] || "";
      });
      bars.append(slot);
    }
  }

  function drawPalette() {
    const current = (model.get("chords")[selected()] || "");
    palette.replaceChildren();
    for (const { numeral, symbol } of model.get("palette")) {
      const b = el("button", "ditto-btn ditto-chord-btn");
      b.type = "button";
      b.append(el("span", "ditto-numeral", numeral), el("span", "ditto-chord-name", symbol));
      b.classList.toggle("ditto-on", symbol === current);
      b.title = `${numeral}: ${symbol}`;
      b.addEventListener("click", () => pick(symbol));
      palette.append(b);
    }
  }

  function drawKeys() {
    keySel.replaceChildren();
    for (const { key, title } of model.get("key_menu")) {
      const o = el("option", null, title);
      o.value = key;
      keySel.append(o);
    }
    keySel.value = model.get("key");
  }

  function typed() {
    pick(input.value.trim());
    input.value = "";
  }
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      typed();
    }
    e.stopPropagation(); // keep JupyterLab's shortcuts (a, b, d d...) out of the text box
  });
  setBtn.addEventListener("click", typed);
  keySel.addEventListener("change", () => {
    model.set("key", keySel.value);
    model.save_changes();
  });
  clearBar.addEventListener("click", () => {
    model.set("chords", withChord(model.get("chords"), selected(), ""));
    model.save_changes();
  });
  clearAll.addEventListener("click", () => {
    model.set("chords", model.get("chords").map(() => ""));
    model.set("selected", 0);
    model.save_changes();
  });

  function sync() {
    drawBars();
    drawPalette();
    const msg = model.get("error");
    error.textContent = msg;
    error.classList.toggle("ditto-show", !!msg);
  }
  const events = "change:chords change:bars change:selected change:palette change:bad_bars change:error";
  model.on(events, sync);
  model.on("change:key_menu change:key", drawKeys);
  drawKeys();
  sync();

  return () => {
    model.off(events, sync);
    model.off("change:key_menu change:key", drawKeys);
  };
}

export default { render };
