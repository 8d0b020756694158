// The room page: joins the lobby, runs the voice mesh, chat and controls.
//
// Wiring only: LobbyConnection speaks the protocol, PeerMesh owns the peer
// connections, Microphone the local audio, ChatOutbox the chat lines sent,
// VoiceControls mute, push to talk and volumes, LobbyView and Notices the DOM.

import { api } from "./api.js";
import { BotsPanel } from "./bots-panel.js";
import { CharacterLimit } from "./char-limit.js";
import { wireChatForm } from "./chat-form.js";
import { ChatOutbox } from "./chat-outbox.js";
import { errorLine, errorText, microphoneErrorText, recoveryPlan, recoveryText } from "./error-messages.js";
import { LobbyView } from "./lobby-view.js";
import { Microphone } from "./microphone.js";
import { ModerationControls } from "./moderation.js";
import { Notices } from "./notices.js";
import { PeerMesh } from "./peer-mesh.js";
import { LobbyConnection } from "./protocol-client.js";
import { roomStatus } from "./room-status.js";
import { SessionStore } from "./session-store.js";
import { botIsSpeaking, SpeakingDetector } from "./speaking.js";
import { VoiceControls } from "./voice-controls.js";

const MAX_RESENDS = 3;
const LEVEL_INTERVAL_MS = 150;
// Matches the server's rule: 1-32 characters after trimming, no control characters.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

const config = JSON.parse(document.getElementById("voicebot-config").textContent);
const lobby = config.lobby;
const store = new SessionStore({ api });
const view = new LobbyView(document);
const notices = new Notices(document.getElementById("notices"), document.getElementById("announcer"));
const microphone = new Microphone();
const bots = new BotsPanel({
  root: document,
  lobbyId: lobby.id,
  token: async () => (await store.ensure()).token,
  notices,
  errorText,
});
view.onParticipantRendered = (li, participant) => bots.decorate(li, participant);

const state = {
  name: store.name,
  password: "",
  // The creator of a lobby is not asked for its password (the server knows its session).
  creator: store.created(lobby.id),
  wantJoined: false,
  joining: false,
  joined: false,
  selfId: null,
  // The place in the lobby's queue while waiting for a seat, else null.
  seatPosition: null,
  reconnectMs: null,
  // The last error frame before a final close (its sentence says why).
  finalError: null,
  participants: new Map(),
  speaking: new Map(),
  resends: new Map(),
  joinRetryTimer: null,
  microphoneTried: false,
};

const log = (...parts) => console.info("[voicebot]", ...parts);

const connection = new LobbyConnection({
  socketUrl: async (reason) => {
    const session = reason === "reauthenticate" ? await store.renew() : await store.ensure();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${config.socketPath}?token=${encodeURIComponent(session.token)}`;
  },
});

const outbox = new ChatOutbox({ connection });
const moderation = new ModerationControls({ root: document, send: (frame) => connection.send(frame) });
view.onParticipantsRendered = (list, selfId) => moderation.decorate(list, selfId);

const mesh = new PeerMesh({
  iceServers: config.iceServers,
  audioParent: view.audioParent,
  signal: {
    sendDescription: (peerId, description) => connection.send({ type: "relay_session_description", peer_id: peerId, description }),
    sendCandidate: (peerId, candidate) => connection.send({ type: "relay_ice_candidate", peer_id: peerId, candidate }),
  },
});

const controls = new VoiceControls({ view, microphone, mesh, store, isInRoom: () => state.joined });
const nameLimit = new CharacterLimit(view.joinName, document.getElementById("join-name-count"), {
  max: config.limits.nameMaxLength, label: "A name",
});
const chatLimit = new CharacterLimit(view.chatInput, document.getElementById("chat-count"), {
  max: config.limits.chatMaxLength, label: "A message", trim: false, showFrom: Math.floor(config.limits.chatMaxLength * 0.9),
});

/** The status pill, from the socket's state and where joining stands. */
function showStatus() {
  view.setConnection(roomStatus({
    socket: connection.state,
    joined: state.joined,
    joining: state.joining,
    wantJoined: state.wantJoined,
    seatPosition: state.seatPosition,
    reconnectMs: state.reconnectMs,
  }));
}

// --- Joining -------------------------------------------------------------

function nameProblem(name) {
  const trimmed = name.trim();
  if (!trimmed) {
    return "Enter a name so that others know who is talking.";
  }
  const length = nameLimit.state;
  if (length.over) {
    return length.problem;
  }
  if (CONTROL_CHARACTERS.test(trimmed)) {
    return errorText({ code: "invalid_name" });
  }
  return "";
}

async function join({ name, password, resuming = false }) {
  const problem = nameProblem(name);
  if (problem) {
    view.showJoinForm({ nameError: problem });
    return;
  }
  // A resumed participant needs no password (PROTOCOL.md's reconnect), nor does the creator.
  if (lobby.hasPassword && !password && !state.password && !resuming && !state.creator) {
    view.showJoinForm({ passwordError: "This lobby has a password. Ask whoever shared the link for it." });
    return;
  }
  state.name = name.trim();
  store.name = state.name;
  if (password) {
    state.password = password;
  }
  state.wantJoined = true;
  view.showJoinForm({ busy: true });
  showStatus();
  if (!state.microphoneTried) {
    state.microphoneTried = true;
    await openMicrophone(store.microphone);
  }
  if (connection.isOpen) {
    sendJoin();
  } else if (connection.state === "idle") {
    connection.connect();
  } else if (["closed", "stopped"].includes(connection.state)) {
    connection.resume();
  } else {
    connection.reconnectNow();
  }
}

function sendJoin() {
  if (!state.wantJoined || state.joining || state.joined) {
    return;
  }
  clearTimeout(state.joinRetryTimer);
  state.joining = true;
  const frame = { type: "join", name: state.name };
  if (state.password) {
    frame.password = state.password;
  }
  if (connection.send(frame) === null) {
    state.joining = false;
  }
  showStatus();
}

function onJoined(frame) {
  state.joining = false;
  state.joined = true;
  state.seatPosition = null;
  clearTimeout(state.joinRetryTimer);
  state.selfId = frame.self.session_id;
  // A resumed participant keeps the name it had.
  state.name = frame.self.name;
  store.activeLobby = lobby.id;
  connection.markHealthy();
  notices.dismiss("connection");
  notices.dismiss("join");
  // Every link is negotiated afresh after a join (the server sends add_peer
  // for each connected participant next), so the old ones go.
  mesh.closeAll();
  state.participants = new Map([[frame.self.session_id, frame.self], ...frame.participants.map((p) => [p.session_id, p])]);
  state.speaking.clear();
  frame.participants.forEach((participant) => controls.applyVolume(participant));
  moderation.setup({ canModerate: frame.can_moderate, locked: frame.lobby.locked });
  view.showRoom();
  view.renderParticipants(state.participants, state.selfId);
  // With the room shown, so that the log opens at the newest line.
  view.replaceChat(frame.chat_history.filter((message) => !bots.isTranscript(message)));
  bots.replaceTranscripts(frame.chat_history.filter((message) => bots.isTranscript(message)));
  bots.setJoined(true);
  showStatus();
  outbox.joinedAs({ selfId: state.selfId, chatHistory: frame.chat_history });
  if (frame.self.muted !== controls.shownMuted) {
    connection.send({ type: "set_muted", muted: controls.shownMuted });
  }
  log(frame.resumed ? "resumed as" : "joined as", frame.self.name);
}

const RESYNC_WINDOW_MS = 60000;
const RESYNCS_PER_WINDOW = 3;

function resyncPresence() {
  const now = Date.now();
  state.resyncs = (state.resyncs || []).filter((at) => now - at < RESYNC_WINDOW_MS);
  if (state.resyncs.length >= RESYNCS_PER_WINDOW) {
    log("the server still lists this tab as reconnecting; waiting for it to catch up");
    return;
  }
  state.resyncs.push(now);
  log("the server lists this tab as reconnecting; resuming on a new socket");
  state.joined = false;
  connection.restart("reconnect");
}

function leave() {
  state.wantJoined = false;
  clearTimeout(state.joinRetryTimer);
  if (state.joined) {
    connection.send({ type: "leave" });
  }
  state.joined = false;
  state.joining = false;
  state.seatPosition = null;
  bots.setJoined(false);
  store.activeLobby = "";
  outbox.clear();
  mesh.closeAll();
  microphone.close();
  state.microphoneTried = false;
  connection.close();
  view.showLeft("You left the lobby. Others no longer hear you.");
  showStatus();
}

// --- Frames ---------------------------------------------------------------

const FRAME_HANDLERS = {
  joined: onJoined,
  participant_joined({ participant }) {
    controls.applyVolume(participant);
    state.participants.set(participant.session_id, participant);
    view.renderParticipants(state.participants, state.selfId);
    notices.announce(`${participant.name} joined.`);
  },
  participant_updated({ participant }) {
    if (participant.session_id === state.selfId && participant.status === "reconnecting" && state.joined) {
      // The server believes this socket is gone (a stale view of a server
      // restart): others would get no relays from us. A new socket resumes
      // our place, as after any drop.
      resyncPresence();
      return;
    }
    if (participant.session_id === state.selfId && participant.muted) {
      // A bot muted us (we asked it to): the microphone goes quiet too.
      controls.mutedByServer();
    }
    state.participants.set(participant.session_id, participant);
    view.renderParticipants(state.participants, state.selfId);
  },
  participant_left({ session_id: sessionId, reason }) {
    if (sessionId === state.selfId) {
      // The server let our place go (we were away too long): join again.
      state.joined = false;
      outbox.paused();
      mesh.closeAll();
      if (state.wantJoined) {
        notices.show("You were disconnected for too long and lost your place. Joining again…", { kind: "warning", key: "join" });
        sendJoin();
      }
      return;
    }
    const participant = state.participants.get(sessionId);
    state.participants.delete(sessionId);
    state.speaking.delete(sessionId);
    view.renderParticipants(state.participants, state.selfId);
    if (participant) {
      const how = { kicked: "was removed", timeout: "lost their connection" }[reason] || "left";
      notices.announce(`${participant.name} ${how}.`);
    }
  },
  add_peer({ peer_id: peerId, should_create_offer: shouldCreateOffer, polite }) {
    mesh.addPeer({ peerId, shouldCreateOffer, polite });
  },
  remove_peer({ peer_id: peerId }) {
    mesh.removePeer(peerId);
  },
  session_description({ peer_id: peerId, description }) {
    mesh.handleDescription(peerId, description);
  },
  ice_candidate({ peer_id: peerId, candidate }) {
    mesh.handleCandidate(peerId, candidate);
  },
  lobby_updated({ lobby: updated }) {
    moderation.lobbyUpdated(updated);
    notices.show(updated.locked ? "The lobby is locked: no one new can join." : "The lobby is open to newcomers again.",
      { kind: "info", key: "lock", timeoutMs: 5000 });
  },
  chat(message) {
    if (bots.isTranscript(message)) {
      bots.appendTranscript(message);
    } else if (!view.hasChat(message.id)) {
      // A line resent after a failed broadcast may arrive twice: show it once.
      view.appendChat(message);
    }
  },
  waiting_for_seat({ position }) {
    if (!state.wantJoined || state.joined || !Number.isInteger(position)) {
      return;
    }
    state.seatPosition = position;
    showWaiting();
    showStatus();
  },
  seat_available() {
    // Our turn in the queue: join at once (the seat is held for us a while).
    if (state.wantJoined && !state.joined) {
      log("a seat is free; joining");
      sendJoin();
    }
  },
};

connection.addEventListener("frame", ({ detail: { frame } }) => {
  const handler = FRAME_HANDLERS[frame.type];
  if (handler) {
    handler(frame);
  } else {
    log("ignored a frame of type", frame.type);
  }
});

// --- Errors and their recovery ---------------------------------------------

function showError(error, options = {}) {
  notices.show(errorLine(error), {
    kind: "error",
    key: options.key || `error-${error.code}`,
    code: error.code,
    reference: error.correlation_id || null,
    actions: options.actions || [],
  });
}

function resend(request, delayMs) {
  const attempt = (state.resends.get(request.id) || 0) + 1;
  if (attempt > MAX_RESENDS) {
    return;
  }
  setTimeout(() => {
    if (!state.joined) {
      return;
    }
    let frame = request;
    if (request.type === "set_muted") {
      frame = { type: "set_muted", muted: controls.shownMuted };
    } else if (request.type === "relay_session_description") {
      // Only a description the connection still stands by is worth sending.
      const link = mesh.get(request.peer_id);
      if (!link || !link.pc.localDescription || link.pc.localDescription.sdp !== request.description.sdp) {
        return;
      }
    }
    // The same id: a chat line whose broadcast failed after it was stored is not stored twice.
    const id = connection.send(frame, { resendOf: request.id });
    if (id !== null) {
      state.resends.set(id, attempt);
    }
  }, delayMs);
}

/** The notice of a full lobby: the place in line, and a way out. */
function showWaiting(error = state.fullError) {
  state.fullError = error || { code: "lobby_full" };
  const place = state.seatPosition === null ? ""
    : state.seatPosition === 1 ? " You are next in line: you join as soon as a seat is free."
      : ` You are number ${state.seatPosition} in line: you join when a seat is free for you.`;
  notices.show(`${errorText(state.fullError)}${place}`, {
    kind: "warning",
    key: "join",
    code: "lobby_full",
    actions: [{ label: "Stop waiting", onClick: () => { cancelJoin(); } }],
  });
}

function scheduleJoinRetry(error, delayMs) {
  clearTimeout(state.joinRetryTimer);
  if (error.code === "lobby_full") {
    showWaiting(error);
  } else {
    notices.show(errorText(error), {
      kind: "error",
      key: "join",
      code: error.code,
      reference: error.correlation_id || null,
      countdown: { untilMs: Date.now() + delayMs, text: (left) => recoveryText(error, { secondsLeft: left }) },
      actions: [{ label: "Stop trying", onClick: () => { cancelJoin(); } }],
    });
  }
  view.setJoinBusy(true);
  state.joinRetryTimer = setTimeout(() => {
    if (state.wantJoined && !state.joined) {
      if (connection.isOpen) {
        sendJoin();
      } else {
        connection.reconnectNow();
      }
    }
  }, delayMs);
}

function cancelJoin() {
  clearTimeout(state.joinRetryTimer);
  state.wantJoined = false;
  state.joining = false;
  state.seatPosition = null;
  // Closing the socket on purpose (1000) gives up the place in the queue.
  connection.close();
  view.showJoinForm({ busy: false });
  showStatus();
}

connection.addEventListener("servererror", ({ detail: { error, request } }) => {
  log("server error", error.code, error.correlation_id || "");
  if (request && request.type === "chat") {
    return;  // the chat outbox answers for its own lines
  }
  const forJoin = request && request.type === "join";
  if (forJoin) {
    state.joining = false;
  }
  if (["kicked", "lobby_not_found", "session_replaced"].includes(error.code)) {
    state.finalError = error;
  }
  try {
    handleServerError(error, request, forJoin);
  } finally {
    showStatus();
  }
});

function handleServerError(error, request, forJoin) {
  switch (error.code) {
    case "invalid_lobby_password":
      state.wantJoined = false;
      state.password = "";
      state.creator = false;
      view.showJoinForm({ passwordError: errorText(error) });
      return;
    case "name_taken":
    case "invalid_name":
      if (forJoin) {
        state.wantJoined = false;
        view.showJoinForm({ nameError: errorText(error) });
      } else {
        showError(error);
      }
      return;
    case "already_joined":
      return;
    case "peer_not_found":
      // A relay crossed a departure; the mesh learns of it from remove_peer.
      notices.show(errorText(error), { kind: "info", key: "peer", code: error.code, timeoutMs: 4000 });
      return;
    default:
      break;
  }
  const plan = recoveryPlan(error);
  if (forJoin && plan.action === "retry") {
    scheduleJoinRetry(error, plan.delayMs);
    return;
  }
  if (forJoin && plan.action === "none") {
    state.wantJoined = false;
    view.showJoinForm({ busy: false });
  }
  showError(error);
  switch (plan.action) {
    case "retry":
      if (request && request.type !== "ping") {
        resend(request, plan.delayMs);
      }
      break;
    case "rejoin":
      state.joined = false;
      sendJoin();
      break;
    case "reconnect":
    case "reauthenticate":
      state.joined = false;
      connection.restart(plan.action);
      break;
    default:
      break;
  }
}

connection.addEventListener("connecterror", ({ detail: { error } }) => {
  showError(error, { key: "connection" });
});

connection.addEventListener("drop", ({ detail: { code, action, errorCode } }) => {
  log("socket closed", code, action);
  state.joined = false;
  state.joining = false;
  outbox.paused();
  if (action !== "stop") {
    return;
  }
  // Nothing a new socket could fix: say why (in the server's words when it said) and let the person decide.
  const reason = state.finalError && state.finalError.code === errorCode ? state.finalError : { code: errorCode };
  state.finalError = null;
  mesh.closeAll();
  outbox.clear();
  state.wantJoined = false;
  state.seatPosition = null;
  notices.dismiss("join");
  store.activeLobby = "";
  microphone.close();
  state.microphoneTried = false;
  view.showLeft(errorText(reason), { canRejoin: errorCode !== "lobby_not_found" });
});

connection.addEventListener("open", () => {
  if (state.wantJoined) {
    sendJoin();
  }
});

connection.addEventListener("state", ({ detail }) => {
  log("connection", detail.state, detail.delayMs !== undefined ? `in ${detail.delayMs} ms` : "");
  state.reconnectMs = detail.state === "waiting" ? detail.delayMs : null;
  showStatus();
  if (detail.state === "waiting") {
    if (state.wantJoined) {
      notices.show("The connection to the server dropped. Reconnecting…", {
        kind: "warning",
        key: "connection",
        actions: [{ label: "Reconnect now", onClick: () => connection.reconnectNow() }],
      });
    }
  }
});

window.addEventListener("online", () => connection.reconnectNow());

// --- Microphone and audio ----------------------------------------------------

async function openMicrophone(deviceId) {
  try {
    const stream = await microphone.open(deviceId);
    controls.render();
    notices.dismiss("microphone");
    await mesh.setLocalTrack(microphone.track, stream);
    store.microphone = microphone.deviceId === deviceId ? deviceId : store.microphone;
  } catch (error) {
    log("microphone failed:", error && error.name);
    notices.show(microphoneErrorText(error), {
      kind: "warning",
      key: "microphone",
      code: `microphone-${(error && error.name) || "error"}`,
      actions: [{ label: "Try the microphone again", onClick: () => { openMicrophone(view.microphoneSelect.value); } }],
    });
  }
  await refreshMicrophones();
}

async function refreshMicrophones() {
  try {
    view.setMicrophones(await microphone.inputs(), microphone.deviceId || store.microphone);
  } catch {
    view.setMicrophones([], "");
  }
}

microphone.addEventListener("devicechange", refreshMicrophones);
microphone.addEventListener("ended", () => {
  notices.show("Your microphone stopped (it was unplugged or another app took it). Pick a microphone below.", {
    kind: "warning",
    key: "microphone",
  });
  refreshMicrophones();
});

mesh.addEventListener("peer", ({ detail: { peerId, kind, state: peerState, detail } }) => {
  const name = (state.participants.get(peerId) || {}).name || "a participant";
  switch (kind) {
    case "state":
      view.setPeerState(peerId, peerState);
      if (peerState === "connected") {
        notices.dismiss(`peer-failed-${peerId}`);
      }
      break;
    case "removed":
      view.setPeerState(peerId, null);
      notices.dismiss(`peer-failed-${peerId}`);
      break;
    case "ice-restart":
      log("restarting ICE with", peerId);
      break;
    case "failed":
      notices.show(`Audio with ${name} failed: your browsers found no network path to each other. `
        + "A firewall may be blocking it; whoever runs this server can add a TURN server.", {
        kind: "error",
        key: `peer-failed-${peerId}`,
      });
      break;
    case "autoplay-blocked":
      view.enableSound.hidden = false;
      break;
    case "error":
      log("negotiation with", peerId, "failed:", detail && detail.name, detail && detail.message);
      break;
    default:
      break;
  }
});

mesh.addEventListener("error", ({ detail: { error } }) => {
  log("signaling step failed:", error && error.name, error && error.message);
});

setInterval(() => {
  if (!state.joined) {
    return;
  }
  const now = performance.now();
  for (const sessionId of state.participants.keys()) {
    const level = sessionId === state.selfId ? microphone.level() : mesh.get(sessionId)?.level(now) ?? 0;
    let detector = state.speaking.get(sessionId);
    if (!detector) {
      detector = new SpeakingDetector();
      state.speaking.set(sessionId, detector);
    }
    const heard = detector.update(level, now);
    view.setSpeaking(sessionId, heard || botIsSpeaking(state.participants.get(sessionId)));
  }
}, LEVEL_INTERVAL_MS);

// --- Controls ------------------------------------------------------------------

view.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  join(view.joinValues());
});

controls.addEventListener("mutedchange", ({ detail: { muted } }) => {
  if (state.joined) {
    connection.send({ type: "set_muted", muted });
  }
});

view.microphoneSelect.addEventListener("change", () => {
  store.microphone = view.microphoneSelect.value;
  openMicrophone(view.microphoneSelect.value);
});

view.enableSound.addEventListener("click", () => {
  view.enableSound.hidden = true;
  mesh.playAll();
});

view.leaveButton.addEventListener("click", leave);

view.rejoinButton.addEventListener("click", () => {
  join({ name: state.name || store.name, password: "" });
});

view.copyLink.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(view.shareLink.value);
    notices.show("Link copied. Send it to whoever you want to talk to.", { kind: "info", key: "copy", timeoutMs: 3000 });
  } catch {
    view.shareLink.select();
    notices.show("Select the link and copy it (Ctrl+C or ⌘C).", { kind: "info", key: "copy", timeoutMs: 5000 });
  }
});

wireChatForm({
  view, notices, outbox, limit: chatLimit,
  inLobby: () => state.wantJoined,
  connected: () => state.joined,
});

// --- Start -------------------------------------------------------------------------

showStatus();
view.setCreator(state.creator);
view.showJoinForm({ name: state.name });
nameLimit.update();
if (store.activeLobby === lobby.id && state.name) {
  // A reload of a tab that was in this lobby: resume its place.
  join({ name: state.name, password: "", resuming: true });
}
