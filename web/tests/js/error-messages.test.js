import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../static/web/js/api.js";
import {
  closeAction,
  errorLine,
  errorText,
  isKnownCode,
  microphoneErrorText,
  recoveryPlan,
  recoveryText,
} from "../../static/web/js/error-messages.js";
import { ProtocolError } from "../../static/web/js/protocol-client.js";

const PROTOCOL_CODES = [
  "invalid_json", "invalid_message", "unknown_message_type", "message_too_large", "not_joined",
  "already_joined", "lobby_not_found", "lobby_full", "invalid_lobby_password", "name_taken",
  "invalid_name", "peer_not_found", "invalid_session_description", "invalid_ice_candidate",
  "rate_limited", "unauthenticated", "forbidden", "kicked", "policy_violation", "session_replaced",
  "service_unavailable", "internal_error",
];

test("every error code of the protocol has a sentence for when the server sends none", () => {
  for (const code of PROTOCOL_CODES) {
    assert.ok(isKnownCode(code), code);
    const text = errorText({ code, retry_after: 3 });
    assert.match(text, /^[A-Z].*[.…]$/, `${code}: ${text}`);
  }
});

test("the server's own sentence is shown for every error that has one", () => {
  const spaces = "A lobby name is 1 to 64 characters after trimming spaces, with no control characters.";
  assert.equal(errorText({ code: "invalid_message", message: spaces }), spaces);
  for (const code of PROTOCOL_CODES) {
    assert.equal(errorText({ code, message: "  Words from the server.  " }), "Words from the server.", code);
  }
  // Errors raised as exceptions carry their code as their message when the server sent none.
  assert.equal(errorText(new ApiError({ code: "network_unreachable" })), "The server cannot be reached. Check your connection.");
  assert.equal(errorText(new ProtocolError({ code: "lobby_full" })), "This lobby is full.");
  assert.equal(errorText(new ApiError({ code: "rate_limited", message: "Wait a minute." })), "Wait a minute.");
});

test("what the client does next is said apart, with the server's wait", () => {
  assert.equal(recoveryText({ recovery: "retry", retry_after: 30 }), "Trying again in 30 s…");
  assert.equal(recoveryText({ recovery: "retry", retry_after: 0.2 }), "Trying again in 1 s…");
  assert.equal(recoveryText({ recovery: "retry", retry_after: null }), "Trying again in 2 s…");
  assert.equal(recoveryText({ recovery: "retry", retry_after: 9 }, { secondsLeft: 4 }), "Trying again in 4 s…");
  assert.equal(recoveryText({ recovery: "retry" }, { secondsLeft: 0 }), "Trying again…");
  assert.equal(recoveryText({ recovery: "reconnect" }), "Reconnecting…");
  assert.equal(recoveryText({ recovery: "none" }), "");
  assert.equal(errorLine({ code: "service_unavailable", message: "The database is busy.", recovery: "retry", retry_after: 2 }),
    "The database is busy. Trying again in 2 s…");
  assert.equal(errorLine({ code: "name_taken", recovery: "none" }), "Someone in this lobby already uses that name. Pick another one.");
});

test("an unknown code shows the server's safe message, never data or a trace", () => {
  assert.equal(errorText({ code: "bot_unavailable", message: "That bot is resting." }), "That bot is resting.");
  assert.equal(errorText({ code: "x", message: '{"type": "error"}' }), "Something went wrong. Try again in a moment.");
  assert.equal(errorText({ code: "x", message: "Traceback (most recent call last):" }), "Something went wrong. Try again in a moment.");
  assert.equal(errorText({ code: "lobby_full", message: "Traceback (most recent call last):" }), "This lobby is full.");
  assert.equal(errorText(null), "Something went wrong. Try again in a moment.");
});

test("recovery plans carry the server's wait", () => {
  assert.deepEqual(recoveryPlan({ recovery: "retry", retry_after: 1.5 }), { action: "retry", delayMs: 1500 });
  assert.deepEqual(recoveryPlan({ recovery: "retry", retry_after: null }), { action: "retry", delayMs: 2000 });
  assert.deepEqual(recoveryPlan({ recovery: "rejoin" }), { action: "rejoin", delayMs: 0 });
  assert.deepEqual(recoveryPlan({ recovery: "reauthenticate" }), { action: "reauthenticate", delayMs: 0 });
  assert.deepEqual(recoveryPlan({ recovery: "explode" }), { action: "none", delayMs: 0 });
});

test("close codes decide between reconnecting, a new session and stopping", () => {
  assert.deepEqual(closeAction(4001), { action: "reauthenticate", code: "unauthenticated" });
  assert.deepEqual(closeAction(4003), { action: "stop", code: "kicked" });
  assert.deepEqual(closeAction(4004), { action: "stop", code: "lobby_not_found" });
  assert.deepEqual(closeAction(4009), { action: "stop", code: "session_replaced" });
  for (const code of [1000, 1001, 1006, 1011, 4008, 4011]) {
    assert.equal(closeAction(code).action, "reconnect", String(code));
  }
});

test("microphone failures are explained by cause", () => {
  assert.match(microphoneErrorText({ name: "NotAllowedError" }), /refused/);
  assert.match(microphoneErrorText({ name: "NotFoundError" }), /No microphone was found/);
  assert.match(microphoneErrorText({ name: "NotReadableError" }), /another app/);
  assert.match(microphoneErrorText({ name: "InsecureContextError" }), /https/);
  assert.match(microphoneErrorText(undefined), /could not be opened/);
});
