// What people are told about errors, and what the client does about them.
//
// Every error the server sends (a WebSocket `error` frame or an HTTP error
// body) carries a `message` that the protocol keeps safe to show, often more
// specific than its code ("A lobby name is 1 to 64 characters ..."): the
// page shows that sentence. The table below is for errors without one (a
// close code with no frame before it, or errors this client raises itself).
// What the client does next ("Trying again in 9 s…") is said apart, by
// `recoveryText`, so that a countdown can change it.

const MESSAGES = {
  // Frames the client sent wrong: a bug on our side, not the person's.
  invalid_json: () => "The app sent the server something it could not read. Reload the page if this keeps happening.",
  invalid_message: () => "The app sent the server a malformed message. Reload the page if this keeps happening.",
  unknown_message_type: () => "The app and the server do not agree on the protocol. Reload the page to get the latest version.",
  message_too_large: () => "That message is too long to send.",
  // Joining and being in a lobby.
  not_joined: () => "You are not in the lobby any more.",
  already_joined: () => "You are already in this lobby.",
  lobby_not_found: () => "This lobby does not exist or has been closed.",
  lobby_full: () => "This lobby is full.",
  invalid_lobby_password: () => "That password is not right. Check it and try again.",
  name_taken: () => "Someone in this lobby already uses that name. Pick another one.",
  invalid_name: () => "A name needs 1 to 32 characters, with no control characters.",
  kicked: () => "A moderator removed you from this lobby.",
  // Voice connections.
  peer_not_found: () => "That participant is no longer in this lobby.",
  invalid_session_description: () => "The server refused this browser's audio setup for one participant. Audio with them may not work.",
  invalid_ice_candidate: () => "The server refused a network route this browser offered. Audio may still connect another way.",
  // Limits and sessions.
  rate_limited: () => "You are sending too fast.",
  unauthenticated: () => "Your session has expired.",
  forbidden: () => "You are not allowed to do that.",
  lobby_locked: () => "This lobby is locked: its creator lets no one new in right now.",
  policy_violation: () => "The server closed the connection after too many bad messages.",
  session_replaced: () => "This lobby is open in another tab or window with the same session, so this one stepped aside.",
  // The server and the network.
  service_unavailable: () => "The server is having trouble right now.",
  internal_error: () => "Something went wrong on the server. It has been logged.",
  not_found: () => "There is nothing at that address.",
  method_not_allowed: () => "The server does not accept that request.",
  // Raised by this client itself, never by the server.
  network_unreachable: () => "The server cannot be reached. Check your connection.",
  unexpected_response: () => "The server answered with something unexpected.",
};

const FALLBACK = "Something went wrong. Try again in a moment.";

/** The sentence shown for an error frame or an HTTP error body: the server's, else this client's. */
export function errorText(error) {
  if (!error || typeof error !== "object") {
    return FALLBACK;
  }
  const serverMessage = typeof error.message === "string" ? error.message.trim() : "";
  // An exception object without a server message carries its code as its message.
  if (serverMessage && serverMessage !== error.code && !looksLikeInternals(serverMessage)) {
    return serverMessage;
  }
  const known = MESSAGES[error.code];
  return known ? known(error) : FALLBACK;
}

/** Whole seconds (at least 1) of the server's `retry_after`, or of `fallback`. */
export function retrySeconds(error, fallback = 2) {
  const value = error && typeof error.retry_after === "number" && Number.isFinite(error.retry_after)
    ? error.retry_after
    : fallback;
  return Math.max(1, Math.ceil(value));
}

/**
 * What the client does next about `error`, said in a few words ("" when it
 * does nothing): `secondsLeft` counts down a retry.
 */
export function recoveryText(error, { secondsLeft = null } = {}) {
  switch (error && error.recovery) {
    case "retry": {
      const left = secondsLeft === null ? retrySeconds(error) : secondsLeft;
      return left > 0 ? `Trying again in ${left} s…` : "Trying again…";
    }
    case "rejoin":
      return "Joining again…";
    case "reconnect":
      return "Reconnecting…";
    case "reauthenticate":
      return "Starting a new session…";
    default:
      return "";
  }
}

/** The error's sentence and what the client does next, as one line. */
export function errorLine(error, options) {
  return [errorText(error), recoveryText(error, options)].filter(Boolean).join(" ");
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
