import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff, retryAfterMs } from "../../static/web/js/backoff.js";

test("delays double up to the cap, within the jitter band", () => {
  const lowest = new Backoff({ baseMs: 500, maxMs: 4000, jitter: 0.5, random: () => 0 });
  const highest = new Backoff({ baseMs: 500, maxMs: 4000, jitter: 0.5, random: () => 0.999999 });
  const low = Array.from({ length: 6 }, () => lowest.next());
  const high = Array.from({ length: 6 }, () => highest.next());
  assert.deepEqual(low, [250, 500, 1000, 2000, 2000, 2000]);
  assert.deepEqual(high, [500, 1000, 2000, 4000, 4000, 4000]);
});

test("jitter spreads the delays of clients that dropped together", () => {
  const values = [0.1, 0.5, 0.9];
  const delays = values.map((value) => new Backoff({ baseMs: 1000, random: () => value }).next());
  assert.equal(new Set(delays).size, 3);
  for (const delay of delays) {
    assert.ok(delay >= 500 && delay <= 1000, `${delay} outside [500, 1000]`);
  }
});

test("reset starts again from the base delay", () => {
  const backoff = new Backoff({ baseMs: 100, jitter: 0, random: () => 0 });
  backoff.next();
  backoff.next();
  assert.equal(backoff.next(), 400);
  backoff.reset();
  assert.equal(backoff.next(), 100);
});

test("no jitter gives the exact exponential sequence", () => {
  const backoff = new Backoff({ baseMs: 200, maxMs: 1000, factor: 3, jitter: 0 });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [200, 600, 1000]);
});

test("nonsense settings are refused", () => {
  assert.throws(() => new Backoff({ baseMs: 0 }), RangeError);
  assert.throws(() => new Backoff({ baseMs: 1000, maxMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ jitter: 2 }), RangeError);
});

test("retry_after in seconds becomes milliseconds; a missing one takes the fallback", () => {
  assert.equal(retryAfterMs(2, 999), 2000);
  assert.equal(retryAfterMs(0.25, 999), 250);
  assert.equal(retryAfterMs(null, 999), 999);
  assert.equal(retryAfterMs(-1, 999), 999);
  assert.equal(retryAfterMs("2", 999), 999);
});
