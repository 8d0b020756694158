// Messages for people: errors, warnings and notes, shown in an aria-live region.

import { Countdown } from "./countdown.js";

export class Notices {
  /** @param {HTMLElement} container  an element with aria-live (the page's #notices) */
  constructor(container, announcer = null) {
    this.container = container;
    this.announcer = announcer;
    this.timers = new Map();
    this.countdowns = new Map();
  }

  /**
   * Shows `text`; a notice with the same `key` is replaced, not repeated.
   * kind: "error" (role=alert), "warning" or "info" (status).
   * actions: [{label, onClick}] rendered as buttons.
   * countdown: {untilMs, text: (secondsLeft) => string} adds a line that counts down every second.
   * detail: a second line of text (e.g. how many messages wait).
   */
  show(text, { kind = "error", key = text, reference = null, actions = [], timeoutMs = 0, code = "", countdown = null,
    detail = "" } = {}) {
    this.dismiss(key);
    const notice = document.createElement("div");
    notice.className = `notice notice-${kind}`;
    notice.dataset.key = key;
    if (code) {
      notice.dataset.code = code;
    }
    notice.setAttribute("role", kind === "error" ? "alert" : "status");
    const body = document.createElement("p");
    body.className = "notice-text";
    body.textContent = text;
    notice.append(body);
    if (countdown) {
      const line = document.createElement("span");
      line.className = "notice-countdown";
      body.append(" ", line);
      this.countdowns.set(key, new Countdown({
        untilMs: countdown.untilMs,
        onTick: (left) => { line.textContent = countdown.text(left); },
      }).start());
    }
    if (detail) {
      const more = document.createElement("p");
      more.className = "notice-detail";
      more.textContent = detail;
      notice.append(more);
    }
    if (reference) {
      const ref = document.createElement("p");
      ref.className = "notice-reference";
      ref.textContent = `Reference: ${reference}`;
      notice.append(ref);
    }
    const buttons = document.createElement("div");
    buttons.className = "notice-actions";
    for (const action of actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      button.addEventListener("click", () => {
        this.dismiss(key);
        action.onClick();
      });
      buttons.append(button);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.setAttribute("aria-label", "Dismiss this message");
    close.textContent = "×";
    close.addEventListener("click", () => this.dismiss(key));
    buttons.append(close);
    notice.append(buttons);
    this.container.append(notice);
    if (timeoutMs > 0) {
      this.timers.set(key, setTimeout(() => this.dismiss(key), timeoutMs));
    }
    return notice;
  }

  /** Whether a notice with `key` is shown. */
  has(key) {
    return [...this.container.querySelectorAll(".notice")].some((notice) => notice.dataset.key === key);
  }

  dismiss(key) {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.countdowns.get(key)?.stop();
    this.countdowns.delete(key);
    for (const notice of this.container.querySelectorAll(".notice")) {
      if (notice.dataset.key === key) {
        notice.remove();
      }
    }
  }

  /** Says `text` to screen readers only (joins, leaves). */
  announce(text) {
    if (!this.announcer) {
      return;
    }
    this.announcer.textContent = "";
    // A fresh node is read even when the text repeats.
    const line = document.createElement("span");
    line.textContent = text;
    this.announcer.append(line);
  }
}
