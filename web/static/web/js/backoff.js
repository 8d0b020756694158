// Reconnect delays: exponential growth with jitter, capped.
//
// Each delay is drawn from [ceiling * (1 - jitter), ceiling], where the
// ceiling doubles (by `factor`) with every attempt up to `maxMs`. The jitter
// spreads the reconnects of many clients after a server restart, so that
// they do not all arrive in the same instant.

export class Backoff {
  constructor({ baseMs = 500, maxMs = 15000, factor = 2, jitter = 0.5, random = Math.random } = {}) {
    if (!(baseMs > 0) || !(maxMs >= baseMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
      throw new RangeError("Backoff needs baseMs > 0, maxMs >= baseMs, factor >= 1 and 0 <= jitter <= 1.");
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.factor = factor;
    this.jitter = jitter;
    this.random = random;
    this.attempt = 0;
  }

  /** The ceiling of the delay for attempt number `attempt` (0-based). */
  ceiling(attempt) {
    return Math.min(this.maxMs, this.baseMs * this.factor ** attempt);
  }

  /** The delay before the next attempt, in milliseconds; counts the attempt. */
  next() {
    const ceiling = this.ceiling(this.attempt);
    this.attempt += 1;
    const floor = ceiling * (1 - this.jitter);
    return Math.round(floor + this.random() * (ceiling - floor));
  }

  reset() {
    this.attempt = 0;
  }
}

/** Milliseconds to wait for a server's `retry_after` (seconds), or `fallbackMs` without one. */
export function retryAfterMs(retryAfterSeconds, fallbackMs) {
  if (typeof retryAfterSeconds === "number" && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) {
    return Math.round(retryAfterSeconds * 1000);
  }
  return fallbackMs;
}
