import assert from "node:assert/strict";
import { test } from "node:test";

import { lobbyIdFromInput, lobbyPath } from "../../static/web/js/lobby-link.js";
import { SerialQueue } from "../../static/web/js/serial-queue.js";
import { rmsLevel, SpeakingDetector } from "../../static/web/js/speaking.js";

test("a lobby link or a bare code gives the lobby id", () => {
  assert.equal(lobbyIdFromInput("https://voice.example.org/lobby/AbC-12_x/"), "AbC-12_x");
  assert.equal(lobbyIdFromInput("  http://127.0.0.1:8000/lobby/q1w2e3  "), "q1w2e3");
  assert.equal(lobbyIdFromInput("/lobby/q1w2e3/", "http://host/"), "q1w2e3");
  assert.equal(lobbyIdFromInput("q1w2e3"), "q1w2e3");
  assert.equal(lobbyIdFromInput("https://example.org/other/page/"), null);
  assert.equal(lobbyIdFromInput("not a lobby at all"), null);
  assert.equal(lobbyIdFromInput("https://x/lobby/%3Cscript%3E/"), null);
  assert.equal(lobbyIdFromInput(""), null);
  assert.equal(lobbyPath("q1w2e3"), "/lobby/q1w2e3/");
});

test("the queue runs tasks one at a time in order, and survives a failing one", async () => {
  const errors = [];
  const queue = new SerialQueue({ onError: (error) => errors.push(error.message) });
  const order = [];
  let running = 0;
  const task = (name, ms) => async () => {
    running += 1;
    assert.equal(running, 1, "two tasks ran at once");
    await new Promise((resolve) => setTimeout(resolve, ms));
    order.push(name);
    running -= 1;
    return name;
  };
  const first = queue.push(task("a", 5));
  queue.push(() => { throw new Error("b failed"); }).catch(() => {});
  queue.push(task("c", 0));
  assert.equal(await first, "a");
  await queue.idle();
  assert.deepEqual(order, ["a", "c"]);
  assert.deepEqual(errors, ["b failed"]);
  assert.equal(queue.pending, 0);
});

test("speech starts at once and ends only after a quiet hold", () => {
  const detector = new SpeakingDetector({ onLevel: 0.1, offLevel: 0.05, holdMs: 300 });
  assert.equal(detector.update(0.01, 0), false);
  assert.equal(detector.update(0.2, 100), true);
  assert.equal(detector.update(0.07, 200), true, "between the thresholds keeps speaking");
  assert.equal(detector.update(0.01, 300), true, "quiet starts the hold");
  assert.equal(detector.update(0.01, 500), true);
  assert.equal(detector.update(0.2, 550), true, "a word inside the hold keeps speaking");
  assert.equal(detector.update(0.01, 600), true);
  assert.equal(detector.update(0.01, 950), false, "quiet for the hold ends speech");
  assert.equal(detector.update(Number.NaN, 1000), false);
  assert.throws(() => new SpeakingDetector({ onLevel: 0.01, offLevel: 0.5 }), RangeError);
});

test("the level of samples is their root mean square", () => {
  assert.equal(rmsLevel(new Float32Array([0, 0, 0])), 0);
  assert.equal(rmsLevel([1, -1, 1, -1]), 1);
  assert.ok(Math.abs(rmsLevel([0.5, -0.5]) - 0.5) < 1e-9);
  assert.equal(rmsLevel([]), 0);
});

test("the creator's controls ask for a kick, a lock and an unlock with the protocol's frames", async () => {
  const { kickFrame, lockFrame, lockButtonState } = await import("../../static/web/js/moderation.js");
  assert.deepEqual(kickFrame("abc"), { type: "kick", peer_id: "abc" });
  assert.deepEqual(lockFrame(1), { type: "lock_lobby", locked: true });
  assert.deepEqual(lockButtonState(false), { label: "Lock lobby", pressed: false, next: true });
  assert.deepEqual(lockButtonState(true), { label: "Unlock lobby", pressed: true, next: false });
});
