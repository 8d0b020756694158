// Length limits said before they are reached: a counter beside a field, and an error past it.
//
// The server refuses text over a limit rather than cutting it, so the page
// never cuts either (no `maxlength`): it counts as the server does (in
// characters, i.e. code points, after trimming where the server trims) and
// says how far over the text is.

/** Characters in `text` as the server counts them (code points, so that an emoji is one). */
export function characterCount(text) {
  return [...String(text ?? "")].length;
}

/** Where `text` stands against `max`: {count, over, counter, problem}. */
export function lengthState(text, max, { trim = true, label = "This" } = {}) {
  const count = characterCount(trim ? String(text ?? "").trim() : text);
  const over = count > max;
  return {
    count,
    over,
    counter: `${count} / ${max}`,
    problem: over ? `${label} is at most ${max} characters; this is ${count - max} too many.` : "",
  };
}

/** Keeps a field's counter (and its aria-invalid state) current as the person types. */
export class CharacterLimit {
  /**
   * @param {HTMLInputElement} input
   * @param {HTMLElement} counter  where "12 / 64" goes
   * @param {{max: number, label?: string, trim?: boolean, showFrom?: number}} options
   *   showFrom: the count from which the counter shows (0: always)
   */
  constructor(input, counter, { max, label = "This", trim = true, showFrom = 0 }) {
    this.input = input;
    this.counter = counter;
    this.max = max;
    this.label = label;
    this.trim = trim;
    this.showFrom = showFrom;
    input.addEventListener("input", () => this.update());
    this.update();
  }

  get state() {
    return lengthState(this.input.value, this.max, { trim: this.trim, label: this.label });
  }

  update() {
    const state = this.state;
    this.counter.textContent = state.over ? `${state.counter} · ${state.count - this.max} too many` : state.counter;
    this.counter.hidden = state.count < this.showFrom && !state.over;
    this.counter.dataset.over = String(state.over);
    if (state.over) {
      this.input.setAttribute("aria-invalid", "true");
    } else if (this.input.getAttribute("aria-invalid") === "true" && !this.input.dataset.serverError) {
      this.input.removeAttribute("aria-invalid");
    }
    return state;
  }
}
