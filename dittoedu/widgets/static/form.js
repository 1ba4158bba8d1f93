// dittoedu FormPicker: the browser side (an anywidget ES module; no imports, no CDN).
//
// A row of section boxes over the bars; a click changes a box's letter. `letters` and `sections`
// are sent to Python after each click, which checks the form (parse_form) and answers in `error`.
// The small pure functions are exported so that they can be tested with node; they mirror
// next_letter and resize_sections in form.py.

const LETTERS = "ABCDEFGH";

/** The letter section `i` gets when clicked: the next one, up to one past the highest letter of the
 * other sections, then back to A (`step` -1 goes the other way). */
export function nextLetter(letters, i, step = 1) {
  const others = letters.filter((c, j) => j !== i && LETTERS.includes(c)).map((c) => LETTERS.indexOf(c));
  const top = Math.min(LETTERS.length - 1, Math.max(-1, ...others) + 1);
  const current = LETTERS.indexOf(letters[i]);
  return LETTERS[(((current + step) % (top + 1)) + (top + 1)) % (top + 1)];
}

/** The letters of `n` sections covering the same bars (each takes the letter under its start). */
export function resizeSections(letters, n) {
  if (!letters.length) return new Array(n).fill("A");
  return Array.from({ length: n }, (_, i) => letters[Math.floor((i * letters.length) / n)]);
}

/** The numbers of sections that split `bars` evenly. */
export function divisors(bars) {
  const out = [];
  for (let d = 1; d <= bars; d++) if (bars % d === 0) out.push(d);
  return out;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el: host }) {
  const root = el("div", "ditto-widget ditto-form");
  const top = el("div", "ditto-toolbar");
  const counts = el("span", "ditto-segmented");
  const formText = el("span", "ditto-form-text");
  top.append(el("span", null, "Sections"), counts, el("span", null, "Form"), formText);
  const row = el("div", "ditto-bars");
  const hint = el("div", "ditto-hint",
    "Click a section to change its letter (right-click: back); sections with the same letter sound alike");
  const error = el("div", "ditto-error");
  error.setAttribute("role", "alert");
  root.append(top, row, hint, error);
  host.append(root);

  function setLetters(letters, sections) {
    if (sections !== undefined) model.set("sections", sections);
    model.set("letters", letters);
    model.save_changes();
  }

  function draw() {
    const bars = model.get("bars");
    const n = model.get("sections");
    const letters = model.get("letters");
    counts.replaceChildren();
    for (const d of divisors(bars)) {
      const b = el("button", "ditto-btn", String(d));
      b.type = "button";
      b.title = `${d} section${d === 1 ? "" : "s"} of ${bars / d} bar${bars / d === 1 ? "" : "s"}`;
      b.classList.toggle("ditto-on", d === n);
      b.setAttribute("aria-pressed", String(d === n));
      b.addEventListener("click", () => setLetters(resizeSections(model.get("letters"), d), d));
      counts.append(b);
    }
    formText.textContent = letters.join("");
    row.replaceChildren();
    const per = bars / n;
    const bad = !!model.get("error");
    letters.forEach((letter, i) => {
      const box = el("button", "ditto-slot ditto-section");
      box.type = "button";
      box.dataset.letter = letter;
      box.style.flexGrow = "1";
      box.append(el("span", "ditto-slot-chord", letter));
      const first = Math.round(i * per) + 1, last = Math.round((i + 1) * per);
      const span = Number.isInteger(per) ? (first === last ? `bar ${first}` : `bars ${first}–${last}`) : "";
      box.append(el("span", "ditto-slot-label", span));
      box.classList.toggle("ditto-bad", bad && !LETTERS.includes(letter));
      box.title = `section ${i + 1}: ${letter}${span ? " (" + span + ")" : ""}`;
      const cycle = (step) => {
        const now = model.get("letters").slice();
        now[i] = nextLetter(now, i, step);
        setLetters(now);
      };
      box.addEventListener("click", () => cycle(1));
      box.addEventListener("contextmenu", (e) => {
        e.preventDefault();
        cycle(-1);
      });
      row.append(box);
    });
    const msg = model.get("error");
    error.textContent = msg;
    error.classList.toggle("ditto-show", !!msg);
  }

  const events = "change:bars change:sections change:letters change:error";
  model.on(events, draw);
  draw();
  return () => model.off(events, draw);
}

export default { render };
