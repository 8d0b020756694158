import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../../static/web/js/backoff.js";
import { LobbyConnection, ProtocolError } from "../../static/web/js/protocol-client.js";
import { FakeSocket, flush, ManualTimers } from "./fakes.js";

function setup({ failUrl = 0 } = {}) {
  FakeSocket.opened = [];
  const timers = new ManualTimers();
  const reasons = [];
  let failures = failUrl;
  const connection = new LobbyConnection({
    socketUrl: async (reason) => {
      reasons.push(reason);
      if (failures > 0) {
        failures -= 1;
        throw Object.assign(new Error("offline"), { code: "network_unreachable", retry_after: 2 });
      }
      return `ws://test/ws/lobby/L/?token=t${reasons.length}`;
    },
    WebSocketImpl: FakeSocket,
    backoff: new Backoff({ baseMs: 1000, maxMs: 8000, jitter: 0 }),
    pingIntervalMs: 15000,
    pongTimeoutMs: 5000,
    timers,
    idPrefix: "c-",
  });
  const events = [];
  for (const type of ["state", "frame", "servererror", "drop", "open", "connecterror"]) {
    connection.addEventListener(type, (event) => events.push({ type, ...event.detail }));
  }
  const socket = () => FakeSocket.opened.at(-1);
  return { connection, timers, reasons, events, socket };
}

test("a resent frame keeps its id; ids of two pages differ", async () => {
  const { connection, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  const id = connection.send({ type: "chat", text: "once" });
  assert.equal(connection.send({ type: "chat", text: "once" }, { resendOf: id }), id);
  assert.deepEqual(socket().sent.map((frame) => frame.id), [id, id]);
  assert.equal(connection.send({ type: "ping" }), "c-2");
  const pageA = new LobbyConnection({ socketUrl: async () => "ws://test/" });
  const pageB = new LobbyConnection({ socketUrl: async () => "ws://test/" });
  assert.notEqual(pageA.idPrefix, pageB.idPrefix);
  assert.match(pageA.idPrefix, /^c[0-9a-z]+-$/);
});

test("frames are numbered, frames arrive in order, and errors name the request they answer", async () => {
  const { connection, events, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  assert.equal(connection.send({ type: "join", name: "Ann" }), "c-1");
  assert.equal(connection.send({ type: "chat", text: "hi", id: "mine" }), "c-2");
  assert.deepEqual(socket().sent, [{ type: "join", name: "Ann", id: "c-1" }, { type: "chat", text: "hi", id: "c-2" }]);
  socket().deliver({ type: "joined", in_reply_to: "c-1" });
  socket().deliver({ type: "add_peer", peer_id: "B" });
  socket().deliver({ type: "error", code: "rate_limited", recovery: "retry", retry_after: 1, in_reply_to: "c-2" });
  socket().deliver("not json");
  const frames = events.filter((e) => e.type === "frame").map((e) => e.frame.type);
  assert.deepEqual(frames, ["joined", "add_peer"]);
  const [error] = events.filter((e) => e.type === "servererror");
  assert.equal(error.error.code, "rate_limited");
  assert.deepEqual(error.request, { type: "chat", text: "hi", id: "c-2" });
});

test("request resolves with the answer and rejects with the error frame", async () => {
  const { connection, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  const pong = connection.request({ type: "ping" });
  socket().deliver({ type: "pong", in_reply_to: "c-1" });
  assert.equal((await pong).type, "pong");
  const join = connection.request({ type: "join", name: "" });
  socket().deliver({ type: "error", code: "invalid_name", recovery: "none", in_reply_to: "c-2" });
  await assert.rejects(join, (error) => error instanceof ProtocolError && error.code === "invalid_name");
});

test("a dropped socket reconnects with growing delays, and a join resets them", async () => {
  const { connection, timers, reasons, socket, events } = setup();
  connection.connect();
  await flush();
  socket().accept();
  socket().drop(1006);
  assert.deepEqual(timers.pendingDelays(), [1000]);
  assert.equal(events.at(-1).state, "waiting");
  timers.advance(1000);
  await flush();
  socket().drop(1006);
  assert.deepEqual(timers.pendingDelays(), [2000]);
  timers.advance(2000);
  await flush();
  socket().accept();
  connection.markHealthy();
  socket().drop(1011);
  assert.deepEqual(timers.pendingDelays(), [1000]);
  assert.deepEqual(reasons, ["connect", "reconnect", "reconnect"]);
  assert.equal(FakeSocket.opened.length, 3);
  assert.ok(events.some((e) => e.type === "open" && e.reason === "reconnect"));
});

test("close 4001 gets a new session before reconnecting", async () => {
  const { connection, timers, reasons, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  socket().deliver({ type: "error", code: "unauthenticated", recovery: "reauthenticate" });
  socket().drop(4001);
  timers.advance(1000);
  await flush();
  assert.deepEqual(reasons, ["connect", "reauthenticate"]);
});

test("kicked, closed lobby and a replaced session stop for good", async () => {
  for (const code of [4003, 4004, 4009]) {
    const { connection, timers, socket, events } = setup();
    connection.connect();
    await flush();
    socket().accept();
    socket().drop(code);
    timers.advance(60000);
    await flush();
    assert.equal(FakeSocket.opened.length, 1, `reopened after ${code}`);
    assert.equal(connection.state, "stopped");
    assert.equal(events.find((e) => e.type === "drop").action, "stop");
  }
});

test("closing on purpose does not reconnect, and pending requests fail", async () => {
  const { connection, timers, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  const pending = connection.request({ type: "ping" });
  connection.close();
  await assert.rejects(pending, { code: "network_unreachable" });
  assert.equal(socket().closedWith, 1000);
  socket().drop(1000);
  timers.advance(60000);
  await flush();
  assert.equal(FakeSocket.opened.length, 1);
  assert.equal(connection.send({ type: "chat", text: "late" }), null);
});

test("a socket that stops answering pings is replaced", async () => {
  const { connection, timers, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  timers.advance(15000);
  assert.equal(socket().sent.at(-1).type, "ping");
  socket().deliver({ type: "pong", in_reply_to: socket().sent.at(-1).id });
  timers.advance(15000 + 5000);
  assert.equal(FakeSocket.opened.length, 1, "an answered ping keeps the socket");
  const silent = socket();
  timers.advance(15000);
  assert.equal(silent.closedWith, 4000);
  timers.advance(1000);
  await flush();
  assert.equal(FakeSocket.opened.length, 2);
});

test("when no session can be had, it waits at least retry_after and tries again", async () => {
  const { connection, timers, reasons, events } = setup({ failUrl: 1 });
  connection.connect();
  await flush();
  assert.equal(events.find((e) => e.type === "connecterror").error.code, "network_unreachable");
  assert.deepEqual(timers.pendingDelays(), [2000]);
  timers.advance(2000);
  await flush();
  assert.deepEqual(reasons, ["connect", "reconnect"]);
  assert.equal(FakeSocket.opened.length, 1);
});

test("reconnectNow skips the wait", async () => {
  const { connection, socket } = setup();
  connection.connect();
  await flush();
  socket().accept();
  socket().drop(1006);
  connection.reconnectNow();
  await flush();
  assert.equal(FakeSocket.opened.length, 2);
});
