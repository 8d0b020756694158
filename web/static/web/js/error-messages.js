// What people are told about errors, and what the client does about them.
//
// Every error the server sends (a WebSocket `error` frame or an HTTP error
// body) carries a stable `code`; the text shown comes from this table, keyed
// by that code, never from the raw frame. A code this client does not know
// falls back to the server's `message`, which the protocol keeps safe to show.

const seconds = (error, fallback) => {
  const value = typeof error.retry_after === "number" ? error.retry_after : fallback;
  return Math.max(1, Math.round(value));
};

const MESSAGES = {
  // Frames the client sent wrong: a bug on our side, not the person's.
  invalid_json: () => "The app sent the server something it could not read. Reload the page if this keeps happening.",
  invalid_message: () => "The app sent the server a malformed message. Reload the page if this keeps happening.",
  unknown_message_type: () => "The app and the server do not agree on the protocol. Reload the page to get the latest version.",
  message_too_large: () => "That message is too long to send.",
  // Joining and being in a lobby.
  not_joined: () => "You are not in the lobby any more. Joining again…",
  already_joined: () => "You are already in this lobby.",
  lobby_not_found: () => "This lobby does not exist or has been closed.",
  lobby_full: (error) => `This lobby is full. Trying again in ${seconds(error, 30)} s…`,
  invalid_lobby_password: () => "That password is not right. Check it and try again.",
  name_taken: () => "Someone in this lobby already uses that name. Pick another one.",
  invalid_name: () => "A name needs 1 to 32 characters, with no control characters.",
  kicked: () => "A moderator removed you from this lobby.",
  // Voice connections.
  peer_not_found: () => "That participant is no longer in this lobby.",
  invalid_session_description: () => "The server refused this browser's audio setup for one participant. Audio with them may not work.",
  invalid_ice_candidate: () => "The server refused a network route this browser offered. Audio may still connect another way.",
  // Limits and sessions.
  rate_limited: (error) => `You are sending too fast. Trying again in ${seconds(error, 1)} s…`,
  unauthenticated: () => "Your session has expired. Starting a new one…",
  forbidden: () => "You are not allowed to do that.",
  policy_violation: () => "The server closed the connection after too many bad messages. Reconnecting…",
  session_replaced: () => "This lobby is open in another tab or window with the same session, so this one stepped aside.",
  // The server and the network.
  service_unavailable: (error) => `The server is having trouble right now. Trying again in ${seconds(error, 2)} s…`,
  internal_error: () => "Something went wrong on the server. It has been logged; trying again…",
  not_found: () => "There is nothing at that address.",
  method_not_allowed: () => "The server does not accept that request.",
  // Raised by this client itself, never by the server.
  network_unreachable: () => "The server cannot be reached. Check your connection; trying again…",
  unexpected_response: () => "The server answered with something unexpected. Try again in a moment.",
};

const FALLBACK = "Something went wrong. Try again in a moment.";

/** The sentence shown for an error frame or an HTTP error body. */
export function errorText(error) {
  if (!error || typeof error !== "object") {
    return FALLBACK;
  }
  const known = MESSAGES[error.code];
  if (known) {
    return known(error);
  }
  if (typeof error.message === "string" && error.message.trim() && !looksLikeInternals(error.message)) {
    return error.message.trim();
  }
  return FALLBACK;
}

/** Whether `code` has a message of its own in this client. */
export function isKnownCode(code) {
  return Object.hasOwn(MESSAGES, code);
}

// A server message is safe by contract; still never show something that
// looks like a stack trace or serialized data.
function looksLikeInternals(text) {
  return /^[[{]/.test(text.trim()) || /Traceback|Exception|\n\s+at /.test(text);
}

export const RECOVERIES = ["none", "retry", "rejoin", "reconnect", "reauthenticate"];

/** What the client does for an error: {action, delayMs}. */
export function recoveryPlan(error, { defaultRetryMs = 2000 } = {}) {
  const action = RECOVERIES.includes(error && error.recovery) ? error.recovery : "none";
  if (action !== "retry") {
    return { action, delayMs: 0 };
  }
  const retryAfter = error.retry_after;
  const delayMs = typeof retryAfter === "number" && Number.isFinite(retryAfter) && retryAfter >= 0
    ? Math.round(retryAfter * 1000)
    : defaultRetryMs;
  return { action, delayMs };
}

// Close codes after which opening a new socket cannot help: the person has
// to decide (kicked, the lobby is gone, another tab took over).
const FINAL_CLOSE_CODES = new Map([
  [4003, "kicked"],
  [4004, "lobby_not_found"],
  [4009, "session_replaced"],
]);

/**
 * What to do when the socket closed without us asking:
 * "reconnect" (same token), "reauthenticate" (new session, then reconnect),
 * or "stop" (with the error code that explains why).
 */
export function closeAction(closeCode) {
  if (closeCode === 4001) {
    return { action: "reauthenticate", code: "unauthenticated" };
  }
  if (FINAL_CLOSE_CODES.has(closeCode)) {
    return { action: "stop", code: FINAL_CLOSE_CODES.get(closeCode) };
  }
  return { action: "reconnect", code: null };
}

/** What a person is told when the microphone cannot be opened. */
export function microphoneErrorText(error) {
  const name = error && error.name;
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "Microphone access was refused, so others cannot hear you (you can still listen). "
        + "Allow the microphone for this site in your browser's settings, then pick it below.";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "No microphone was found, so others cannot hear you (you can still listen). "
        + "Plug one in, then pick it below.";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "Your microphone could not be opened; another app may be using it. Close that app, then pick the microphone below.";
    case "InsecureContextError":
      return "This browser allows microphones only on secure pages (https:// or localhost). Ask whoever runs this server to enable HTTPS.";
    case "NotSupportedError":
      return "This browser cannot capture audio. Try a current version of Firefox, Chrome, Edge or Safari.";
    default:
      return "Your microphone could not be opened, so others cannot hear you (you can still listen).";
  }
}
