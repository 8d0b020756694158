import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../../static/web/js/backoff.js";
import { ChatOutbox } from "../../static/web/js/chat-outbox.js";
import { LobbyConnection } from "../../static/web/js/protocol-client.js";
import { FakeSocket, flush, ManualTimers } from "./fakes.js";

const SELF = "self-session";

/**
 * The server's side of chat as the protocol has it: each chat frame is stored and
 * broadcast (the sender's copy answers the frame), unless the sender is over its
 * moving-window limit, which answers rate_limited with the wait until a slot frees.
 */
class FakeChatServer {
  constructor({ timers, limit = 10, windowMs = 10000 }) {
    this.timers = timers;
    this.limit = limit;
    this.windowMs = windowMs;
    this.accepted = [];
    this.stored = [];
    this.wire = [];
    this.socket = null;
    this.answering = true;
  }

  attach(socket) {
    this.socket = socket;
    const send = socket.send.bind(socket);
    socket.send = (text) => {
      send(text);
      const frame = JSON.parse(text);
      if (frame.type === "chat") {
        this.wire.push(frame.text);
        if (this.answering) {
          queueMicrotask(() => this.answer(socket, frame));
        }
      }
    };
  }

  answer(socket, frame) {
    const now = this.timers.now;
    this.accepted = this.accepted.filter((at) => now - at < this.windowMs);
    if (this.accepted.length >= this.limit) {
      const retryAfter = (this.accepted[0] + this.windowMs - now) / 1000;
      socket.deliver({ type: "error", code: "rate_limited", message: "You are sending chat messages too fast. Wait a moment.",
        recovery: "retry", retry_after: retryAfter, in_reply_to: frame.id, correlation_id: "c", category: "websocket",
        severity: "low" });
      return;
    }
    this.accepted.push(now);
    const message = { session_id: SELF, name: "Ann", text: frame.text, ts: new Date(1_700_000_000_000 + now).toISOString() };
    this.stored.push(message);
    socket.deliver({ type: "chat", ...message, in_reply_to: frame.id });
  }
}

async function setup(options = {}) {
  FakeSocket.opened = [];
  const timers = new ManualTimers();
  const server = new FakeChatServer({ timers, ...options });
  const connection = new LobbyConnection({
    socketUrl: async () => "ws://test/ws/lobby/L/?token=t",
    WebSocketImpl: FakeSocket,
    backoff: new Backoff({ baseMs: 1000, maxMs: 1000, jitter: 0 }),
    timers,
  });
  connection.connect();
  await flush();
  server.attach(FakeSocket.opened.at(-1));
  FakeSocket.opened.at(-1).accept();
  const outbox = new ChatOutbox({ connection, timers, now: () => timers.now });
  const changes = [];
  outbox.addEventListener("change", ({ detail }) => changes.push(detail));
  outbox.joinedAs({ selfId: SELF, chatHistory: [] });
  return { timers, server, connection, outbox, changes };
}

/** Lets the fake time run in steps, as a page's clock would, until `done()` or `limitMs`. */
async function runFor(timers, limitMs, done = () => false) {
  for (let elapsed = 0; elapsed < limitMs && !done(); elapsed += 100) {
    await flush();
    timers.advance(100);
  }
  await flush();
}

test("lines refused by the rate limit are sent again after the wait, in the order they were typed", async () => {
  const { timers, server, outbox } = await setup({ limit: 10, windowMs: 10000 });
  const lines = Array.from({ length: 12 }, (_, i) => `m${i + 1}`);

  const delivered = lines.map((text) => outbox.send(text));
  await runFor(timers, 30000, () => outbox.pending === 0);

  assert.deepEqual((await Promise.all(delivered)).map((frame) => frame.text), lines);
  assert.deepEqual(server.stored.map((message) => message.text), lines, "stored in the order typed");
  // One line at a time: m12 never went out before m11 was accepted.
  const firstM12 = server.wire.indexOf("m12");
  assert.ok(firstM12 > server.wire.lastIndexOf("m11"), server.wire.join(","));
  assert.ok(server.wire.filter((text) => text === "m11").length >= 2, "m11 was refused, then sent again");
  assert.ok(timers.now >= 10000, "the second window was waited for");
});

test("a line sent again after a retry keeps its frame id, and a new line gets a new one", async () => {
  const { timers, server, outbox } = await setup({ limit: 1, windowMs: 2000 });
  const socket = FakeSocket.opened.at(-1);
  const ids = [];
  const send = socket.send.bind(socket);
  socket.send = (text) => {
    const frame = JSON.parse(text);
    if (frame.type === "chat") {
      ids.push([frame.text, frame.id]);
    }
    send(text);
  };

  const delivered = ["first", "second"].map((text) => outbox.send(text));
  await runFor(timers, 10000, () => outbox.pending === 0);
  await Promise.all(delivered);

  const seconds = ids.filter(([text]) => text === "second").map(([, id]) => id);
  assert.ok(seconds.length >= 2, "the second line was refused, then sent again");
  assert.equal(new Set(seconds).size, 1, "with the same id each time");
  assert.notEqual(ids[0][1], seconds[0]);
  assert.deepEqual(server.stored.map((message) => message.text), ["first", "second"]);
});

test("while a line waits for the rate limit the outbox says until when, and then that nothing waits", async () => {
  const { timers, outbox, changes } = await setup({ limit: 2, windowMs: 5000 });

  ["a", "b", "c"].forEach((text) => outbox.send(text));
  await runFor(timers, 200);

  const waiting = changes.find((change) => change.waiting !== null);
  assert.equal(waiting.waiting.error.code, "rate_limited");
  assert.equal(waiting.waiting.untilMs, 5000, "the server's retry_after, from the refusal");
  assert.equal(waiting.pending, 1);
  await runFor(timers, 10000, () => outbox.pending === 0);
  assert.deepEqual(changes.at(-1), { pending: 0, waiting: null });
});

test("a line refused for good is handed back and the next ones still go, in order", async () => {
  const { timers, server, connection, outbox } = await setup();
  const socket = FakeSocket.opened.at(-1);
  const refused = [];
  outbox.addEventListener("refused", ({ detail }) => refused.push(detail));
  server.answering = false;
  socket.send = ((send) => (text) => {
    send(text);
    const frame = JSON.parse(text);
    server.wire.push(frame.text);
    queueMicrotask(() => {
      if (frame.text === "too long") {
        socket.deliver({ type: "error", code: "invalid_message", message: "A chat message is 1 to 2000 characters.",
          recovery: "none", retry_after: null, in_reply_to: frame.id });
      } else {
        server.answer(socket, frame);
      }
    });
  })(socket.send.bind(socket));
  assert.ok(connection.isOpen);

  const results = await Promise.allSettled(["one", "too long", "three"].map((text) => outbox.send(text)));
  await runFor(timers, 100);

  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.deepEqual(refused.map((r) => [r.text, r.error.code]), [["too long", "invalid_message"]]);
  assert.deepEqual(server.stored.map((m) => m.text), ["one", "three"]);
});

test("lines typed while reconnecting wait, and a line whose answer was lost is not sent twice", async () => {
  const { timers, server, connection, outbox } = await setup();
  server.answering = false;  // "lost" reaches the server, but the socket drops before its answer
  const lost = outbox.send("lost");
  await flush();
  const first = FakeSocket.opened.at(-1);
  server.answer({ deliver: () => {} }, { id: "x", text: "lost" });
  first.drop(1006);
  outbox.paused();
  const later = outbox.send("later");
  await runFor(timers, 500);
  assert.deepEqual(server.wire, ["lost"], "nothing goes out while away");

  timers.advance(1000);
  await flush();
  const second = FakeSocket.opened.at(-1);
  assert.notEqual(second, first);
  server.answering = true;
  server.attach(second);
  second.accept();
  outbox.joinedAs({ selfId: SELF, chatHistory: [...server.stored] });
  await runFor(timers, 500, () => outbox.pending === 0);

  assert.equal((await lost).text, "lost");
  assert.equal((await later).text, "later");
  assert.deepEqual(server.stored.map((m) => m.text), ["lost", "later"], "stored once each, in order");
  assert.ok(connection.isOpen);
});

test("a line sent but not stored before a drop is sent again after the join", async () => {
  const { timers, server, outbox } = await setup();
  server.answering = false;
  const line = outbox.send("again");
  await flush();
  FakeSocket.opened.at(-1).drop(1006);
  outbox.paused();
  timers.advance(1000);
  await flush();
  const second = FakeSocket.opened.at(-1);
  server.answering = true;
  server.attach(second);
  second.accept();
  outbox.joinedAs({ selfId: SELF, chatHistory: [] });
  await runFor(timers, 500, () => outbox.pending === 0);

  assert.equal((await line).text, "again");
  assert.deepEqual(server.stored.map((m) => m.text), ["again"]);
});

test("leaving drops what was not delivered", async () => {
  const { timers, server, outbox } = await setup();
  outbox.paused();
  const dropped = outbox.send("never");

  outbox.clear();

  await assert.rejects(dropped, { code: "cleared" });
  await runFor(timers, 500);
  assert.deepEqual(server.wire, []);
  assert.equal(outbox.pending, 0);
});
