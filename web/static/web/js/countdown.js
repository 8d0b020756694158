// A countdown in whole seconds ("Trying again in 9 s…", then 8, 7, …).
//
// It ticks at each whole second before the deadline, so that the number
// shown is always the seconds left rounded up, and calls `onDone` once at
// the deadline. Timers and the clock are passed in, for the tests.

/** Whole seconds from `nowMs` until `untilMs`, rounded up; 0 once it has passed. */
export function secondsLeft(untilMs, nowMs) {
  return Math.max(0, Math.ceil((untilMs - nowMs) / 1000));
}

export class Countdown {
  constructor({ untilMs, onTick, onDone = () => {}, timers = globalThis, now = () => Date.now() }) {
    this.untilMs = untilMs;
    this.onTick = onTick;
    this.onDone = onDone;
    this.timers = timers;
    this.now = now;
    this.timer = null;
    this.finished = false;
  }

  /** Shows the seconds left now, then again at every whole second. */
  start() {
    this.tick();
    return this;
  }

  tick() {
    this.timer = null;
    if (this.finished) {
      return;
    }
    const now = this.now();
    const left = secondsLeft(this.untilMs, now);
    this.onTick(left);
    if (left === 0) {
      this.finished = true;
      this.onDone();
      return;
    }
    // The next whole second before the deadline (when the number shown drops).
    const untilNextChange = (this.untilMs - now) - (left - 1) * 1000;
    this.timer = this.timers.setTimeout(() => this.tick(), Math.max(1, untilNextChange));
  }

  stop() {
    this.finished = true;
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
