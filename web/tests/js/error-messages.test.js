import assert from "node:assert/strict";
import { test } from "node:test";

import {
  closeAction,
  errorText,
  isKnownCode,
  microphoneErrorText,
  recoveryPlan,
} from "../../static/web/js/error-messages.js";

const PROTOCOL_CODES = [
  "invalid_json", "invalid_message", "unknown_message_type", "message_too_large", "not_joined",
  "already_joined", "lobby_not_found", "lobby_full", "invalid_lobby_password", "name_taken",
  "invalid_name", "peer_not_found", "invalid_session_description", "invalid_ice_candidate",
  "rate_limited", "unauthenticated", "forbidden", "kicked", "policy_violation", "session_replaced",
  "service_unavailable", "internal_error",
];

test("every error code of the protocol has a message of its own", () => {
  for (const code of PROTOCOL_CODES) {
    assert.ok(isKnownCode(code), code);
    const text = errorText({ code, message: "server words", retry_after: 3 });
    assert.notEqual(text, "server words", code);
    assert.match(text, /^[A-Z].*[.…]$/, `${code}: ${text}`);
  }
});

test("waiting times come from retry_after", () => {
  assert.equal(errorText({ code: "lobby_full", retry_after: 30 }), "This lobby is full. Trying again in 30 s…");
  assert.match(errorText({ code: "rate_limited", retry_after: 0.2 }), /in 1 s/);
  assert.match(errorText({ code: "service_unavailable", retry_after: null }), /in 2 s/);
});

test("an unknown code shows the server's safe message, never data or a trace", () => {
  assert.equal(errorText({ code: "bot_unavailable", message: "That bot is resting." }), "That bot is resting.");
  assert.equal(errorText({ code: "x", message: '{"type": "error"}' }), "Something went wrong. Try again in a moment.");
  assert.equal(errorText({ code: "x", message: "Traceback (most recent call last):" }), "Something went wrong. Try again in a moment.");
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
