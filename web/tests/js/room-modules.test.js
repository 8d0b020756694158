import assert from "node:assert/strict";
import { test } from "node:test";

import { characterCount, lengthState } from "../../static/web/js/char-limit.js";
import { Countdown, secondsLeft } from "../../static/web/js/countdown.js";
import { lobbyListQuery, lobbyListState, lobbyListSummary } from "../../static/web/js/lobby-list.js";
import { roomStatus } from "../../static/web/js/room-status.js";
import { SessionStore } from "../../static/web/js/session-store.js";
import { shortcutOf, takesText } from "../../static/web/js/shortcuts.js";
import { botIsSpeaking, levelFromStats } from "../../static/web/js/speaking.js";
import { TalkMode } from "../../static/web/js/talk-mode.js";
import { ManualTimers } from "./fakes.js";

test("a countdown shows the seconds left, rounded up, at every whole second, and ends at zero", () => {
  const timers = new ManualTimers();
  timers.advance(200);
  const shown = [];
  let done = 0;
  new Countdown({ untilMs: 200 + 9500, onTick: (left) => shown.push([timers.now, left]), onDone: () => { done += 1; },
    timers, now: () => timers.now }).start();

  timers.advance(2000);
  assert.deepEqual(shown.map(([, left]) => left), [10, 9, 8]);
  timers.advance(6000);
  assert.equal(shown.at(-1)[1], 2, "at 8.2 s, 1.5 s are left: it says 2");
  timers.advance(2000);
  assert.deepEqual(shown.map(([, left]) => left), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  assert.equal(done, 1);
  assert.equal(secondsLeft(1000, 0), 1);
  assert.equal(secondsLeft(1000, 1001), 0);
});

test("a stopped countdown says nothing more", () => {
  const timers = new ManualTimers();
  const shown = [];
  const countdown = new Countdown({ untilMs: 5000, onTick: (left) => shown.push(left), timers, now: () => timers.now }).start();
  countdown.stop();
  timers.advance(10000);
  assert.deepEqual(shown, [5]);
});

test("the status pill says what the page is doing, never 'Joining…' after a refusal", () => {
  const base = { socket: "open", joined: false, joining: false, wantJoined: false };
  assert.deepEqual(roomStatus({ ...base, socket: "idle" }), { state: "idle", text: "Not joined yet" });
  assert.equal(roomStatus({ ...base, wantJoined: true, joining: true }).text, "Joining…");
  assert.equal(roomStatus({ ...base, socket: "connecting", wantJoined: true }).text, "Connecting…");
  // A wrong password or a taken name: the socket stays open, the page no longer wants in.
  assert.deepEqual(roomStatus(base), { state: "idle", text: "Not joined yet" });
  assert.deepEqual(roomStatus({ ...base, joined: true, wantJoined: true }), { state: "joined", text: "Connected" });
  assert.equal(roomStatus({ ...base, wantJoined: true, seatPosition: 1 }).text, "Waiting for a seat: next in line");
  assert.equal(roomStatus({ ...base, wantJoined: true, seatPosition: 3 }).text, "Waiting for a seat: number 3 in line");
  assert.equal(roomStatus({ ...base, socket: "waiting", wantJoined: true, reconnectMs: 3600 }).text, "Reconnecting in 4 s…");
  assert.equal(roomStatus({ ...base, socket: "stopped" }).state, "stopped");
});

test("lengths are counted as the server counts them and said before and past the limit", () => {
  assert.equal(characterCount("👩🏽"), 2, "code points, as Python's len");
  assert.equal(characterCount("ééé"), 3);
  assert.deepEqual(lengthState("  Friday  ", 64, { label: "A lobby name" }),
    { count: 6, over: false, counter: "6 / 64", problem: "" });
  const over = lengthState("x".repeat(70), 64, { label: "A lobby name" });
  assert.equal(over.over, true);
  assert.equal(over.problem, "A lobby name is at most 64 characters; this is 6 too many.");
  assert.equal(lengthState(" x ", 2, { trim: false }).over, true, "chat is not trimmed by the server");
  assert.equal(lengthState("😀".repeat(32), 32).over, false, "32 emoji are 32 characters, not 64");
});

test("push to talk: live only while held, never while muted, and what others see follows", () => {
  const talk = new TalkMode();
  const changes = [];
  talk.addEventListener("change", ({ detail }) => changes.push(detail));
  assert.equal(talk.live, true);
  talk.setPushToTalk(true);
  assert.equal(talk.live, false);
  talk.press();
  assert.equal(talk.live, true);
  talk.press();
  talk.release();
  assert.equal(talk.live, false);
  talk.toggleMute();
  talk.press();
  assert.equal(talk.live, false, "muted wins over the talk key");
  talk.release();
  talk.toggleMute();
  talk.setPushToTalk(false);
  assert.equal(talk.live, true);
  assert.deepEqual(changes.map((c) => c.changed), [true, true, true, false, false, false, false, true]);
});

test("muted from elsewhere (a bot): muted once, a second time changes nothing, the person unmutes", () => {
  const talk = new TalkMode();
  const changes = [];
  talk.addEventListener("change", ({ detail }) => changes.push(detail.changed));
  talk.mute();
  assert.equal(talk.live, false);
  talk.mute();
  talk.toggleMute();
  assert.equal(talk.live, true);
  assert.deepEqual(changes, [true, true]);
});

test("shortcuts: M mutes, Space talks with push to talk on, never while typing", () => {
  const body = { tagName: "BODY" };
  const button = { tagName: "BUTTON" };
  const field = { tagName: "INPUT", type: "text" };
  const range = { tagName: "INPUT", type: "range" };
  const key = (type, keyName, target = body, extra = {}) => ({ type, key: keyName, code: keyName === " " ? "Space" : "", target, ...extra });
  assert.equal(shortcutOf(key("keydown", "m"), { pushToTalk: false }), "mute");
  assert.equal(shortcutOf(key("keydown", "M", button), { pushToTalk: false }), "mute");
  assert.equal(shortcutOf(key("keydown", "m", field), { pushToTalk: false }), null);
  assert.equal(shortcutOf(key("keydown", "m", body, { repeat: true }), { pushToTalk: false }), null);
  assert.equal(shortcutOf(key("keydown", "m", body, { ctrlKey: true }), { pushToTalk: false }), null);
  assert.equal(shortcutOf(key("keydown", " "), { pushToTalk: false }), null, "Space is only a shortcut with push to talk");
  assert.equal(shortcutOf(key("keydown", " ", button), { pushToTalk: true }), "talk-start");
  assert.equal(shortcutOf(key("keydown", " ", body, { repeat: true }), { pushToTalk: true }), "talk-hold");
  assert.equal(shortcutOf(key("keyup", " ", range), { pushToTalk: true }), "talk-end");
  assert.equal(shortcutOf(key("keydown", " ", field), { pushToTalk: true }), null);
  assert.equal(takesText({ tagName: "DIV", isContentEditable: true }), true);
  assert.equal(takesText({ tagName: "TEXTAREA" }), true);
  assert.equal(takesText({ tagName: "INPUT", type: "checkbox" }), false);
});

test("the lobby list's search and page go to the API and the address, and are summed up", () => {
  assert.equal(lobbyListQuery({}), "");
  assert.equal(lobbyListQuery({ q: "  chess club ", page: 1 }), "?q=chess+club");
  assert.equal(lobbyListQuery({ q: "", page: 3 }), "?page=3");
  assert.deepEqual(lobbyListState("?q=tea&page=2"), { q: "tea", page: 2 });
  assert.deepEqual(lobbyListState("?page=-4"), { q: "", page: 1 });
  assert.equal(lobbyListSummary({ lobbies: [], q: "", page: 1, pages: 1, total: 0 }), "No public lobbies yet. Create one.");
  assert.equal(lobbyListSummary({ lobbies: [], q: "tea", page: 1, pages: 1, total: 0 }), "No public lobby matches “tea”.");
  assert.equal(lobbyListSummary({ lobbies: [{}], q: "", page: 2, pages: 3, total: 45 }), "45 lobbies open · page 2 of 3");
  assert.equal(lobbyListSummary({ lobbies: [{}], q: "tea", page: 1, pages: 1, total: 1 }), "1 lobby match “tea”");
});

test("a bot that says it speaks lights the indicator, and levels come from stats for senders that mark none", () => {
  assert.equal(botIsSpeaking({ is_bot: true, bot: { kind: "assistant", profile: null, state: "speaking" } }), true);
  assert.equal(botIsSpeaking({ is_bot: true, bot: { state: "listening" } }), false);
  assert.equal(botIsSpeaking({ is_bot: false, bot: { state: "speaking" } }), false);
  assert.equal(botIsSpeaking(undefined), false);
  const before = { totalAudioEnergy: 1.0, totalSamplesDuration: 10 };
  const after = { totalAudioEnergy: 1.25, totalSamplesDuration: 11 };
  assert.ok(Math.abs(levelFromStats(before, after) - 0.5) < 1e-9, "the RMS of the last second");
  assert.equal(levelFromStats(null, after), 0);
  assert.equal(levelFromStats(after, after), 0, "no new samples: silent");
});

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, String(value)); },
    removeItem: (key) => { items.delete(key); },
  };
}

test("the tab remembers the lobbies its session created, forgotten with a new session; volumes by name", async () => {
  const api = { createSession: async () => ({ session_id: "s2", token: "t2" }) };
  const store = new SessionStore({ tab: memoryStorage(), browser: memoryStorage(), api });
  store.session = { session_id: "s1", token: "t1" };
  store.markCreated("abc");
  store.markCreated("abc");
  assert.equal(store.created("abc"), true);
  assert.equal(store.created("other"), false);
  assert.deepEqual(store.createdLobbies(), ["abc"]);
  await store.renew();
  assert.equal(store.created("abc"), false, "a new session created nothing");

  assert.equal(store.volumeOf("Bob"), 100);
  store.setVolume("Bob", 35);
  assert.equal(store.volumeOf("bob"), 35);
  store.setVolume("Bob", 100);
  assert.deepEqual(store.volumes(), {});
  store.pushToTalk = true;
  assert.equal(store.pushToTalk, true);
});
