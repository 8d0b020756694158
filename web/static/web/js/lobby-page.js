// The room page: joins the lobby, runs the voice mesh, chat and controls.
//
// Wiring only: LobbyConnection speaks the protocol, PeerMesh owns the peer
// connections, Microphone the local audio, LobbyView and Notices the DOM.

import { api } from "./api.js";
import { errorText, microphoneErrorText, recoveryPlan } from "./error-messages.js";
import { LobbyView } from "./lobby-view.js";
import { Microphone } from "./microphone.js";
import { Notices } from "./notices.js";
import { PeerMesh } from "./peer-mesh.js";
import { LobbyConnection } from "./protocol-client.js";
import { SessionStore } from "./session-store.js";
import { SpeakingDetector } from "./speaking.js";

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

const state = {
  name: store.name,
  password: store.takePassword(lobby.id),
  wantJoined: false,
  joining: false,
  joined: false,
  selfId: null,
  muted: false,
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

const mesh = new PeerMesh({
  iceServers: config.iceServers,
  audioParent: view.audioParent,
  signal: {
    sendDescription: (peerId, description) => connection.send({ type: "relay_session_description", peer_id: peerId, description }),
    sendCandidate: (peerId, candidate) => connection.send({ type: "relay_ice_candidate", peer_id: peerId, candidate }),
  },
});

// --- Joining -------------------------------------------------------------

function nameProblem(name) {
  const trimmed = name.trim();
  if (!trimmed) {
    return "Enter a name so that others know who is talking.";
  }
  if ([...trimmed].length > config.limits.nameMaxLength || CONTROL_CHARACTERS.test(trimmed)) {
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
  // A resumed participant needs no password (PROTOCOL.md's reconnect).
  if (lobby.hasPassword && !password && !state.password && !resuming) {
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
}

function onJoined(frame) {
  state.joining = false;
  state.joined = true;
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
  view.renderParticipants(state.participants, state.selfId);
  view.replaceChat(frame.chat_history);
  view.setConnection("joined");
  view.showRoom();
  if (frame.self.muted !== state.muted) {
    connection.send({ type: "set_muted", muted: state.muted });
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
  store.activeLobby = "";
  mesh.closeAll();
  microphone.close();
  state.microphoneTried = false;
  connection.close();
  view.showLeft("You left the lobby. Others no longer hear you.");
}

// --- Frames ---------------------------------------------------------------

const FRAME_HANDLERS = {
  joined: onJoined,
  participant_joined({ participant }) {
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
    state.participants.set(participant.session_id, participant);
    view.renderParticipants(state.participants, state.selfId);
  },
  participant_left({ session_id: sessionId, reason }) {
    if (sessionId === state.selfId) {
      // The server let our place go (we were away too long): join again.
      state.joined = false;
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
  chat(message) {
    view.appendChat(message);
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
  notices.show(errorText(error), {
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
      frame = { type: "set_muted", muted: state.muted };
    } else if (request.type === "relay_session_description") {
      // Only a description the connection still stands by is worth sending.
      const link = mesh.get(request.peer_id);
      if (!link || !link.pc.localDescription || link.pc.localDescription.sdp !== request.description.sdp) {
        return;
      }
    }
    const id = connection.send(frame);
    if (id !== null) {
      state.resends.set(id, attempt);
    }
  }, delayMs);
}

function scheduleJoinRetry(error, delayMs) {
  clearTimeout(state.joinRetryTimer);
  showError(error, {
    key: "join",
    actions: [{ label: "Stop waiting", onClick: () => { cancelJoin(); } }],
  });
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
  view.showJoinForm({ busy: false });
}

connection.addEventListener("servererror", ({ detail: { error, request } }) => {
  log("server error", error.code, error.correlation_id || "");
  const forJoin = request && request.type === "join";
  if (forJoin) {
    state.joining = false;
  }
  switch (error.code) {
    case "invalid_lobby_password":
      state.wantJoined = false;
      state.password = "";
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
});

connection.addEventListener("connecterror", ({ detail: { error } }) => {
  showError(error, { key: "connection" });
});

connection.addEventListener("drop", ({ detail: { code, action, errorCode } }) => {
  log("socket closed", code, action);
  state.joined = false;
  state.joining = false;
  if (action !== "stop") {
    return;
  }
  // Nothing a new socket could fix: say why and let the person decide.
  mesh.closeAll();
  state.wantJoined = false;
  store.activeLobby = "";
  microphone.close();
  state.microphoneTried = false;
  view.showLeft(errorText({ code: errorCode }), { canRejoin: errorCode !== "lobby_not_found" });
});

connection.addEventListener("open", () => {
  if (state.wantJoined) {
    sendJoin();
  }
});

connection.addEventListener("state", ({ detail }) => {
  log("connection", detail.state, detail.delayMs !== undefined ? `in ${detail.delayMs} ms` : "");
  if (detail.state === "waiting") {
    const secondsLeft = Math.max(1, Math.round(detail.delayMs / 1000));
    view.setConnection("waiting", `Connection lost. Reconnecting in ${secondsLeft} s…`);
    if (state.wantJoined) {
      notices.show("The connection to the server dropped. Reconnecting…", {
        kind: "warning",
        key: "connection",
        actions: [{ label: "Reconnect now", onClick: () => connection.reconnectNow() }],
      });
    }
  } else if (detail.state === "open" && state.joined) {
    view.setConnection("joined");
  } else {
    view.setConnection(detail.state);
  }
});

window.addEventListener("online", () => connection.reconnectNow());

// --- Microphone and audio ----------------------------------------------------

async function openMicrophone(deviceId) {
  try {
    const stream = await microphone.open(deviceId);
    microphone.setMuted(state.muted);
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
    const level = sessionId === state.selfId ? microphone.level() : mesh.get(sessionId)?.level() ?? 0;
    let detector = state.speaking.get(sessionId);
    if (!detector) {
      detector = new SpeakingDetector();
      state.speaking.set(sessionId, detector);
    }
    view.setSpeaking(sessionId, detector.update(level, now));
  }
}, LEVEL_INTERVAL_MS);

// --- Controls ------------------------------------------------------------------

view.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  join(view.joinValues());
});

view.muteToggle.addEventListener("click", () => {
  state.muted = !state.muted;
  microphone.setMuted(state.muted);
  view.setMuted(state.muted);
  if (state.joined) {
    connection.send({ type: "set_muted", muted: state.muted });
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

view.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = view.chatInput.value.trim();
  if (!text) {
    return;
  }
  if (text.length > config.limits.chatMaxLength) {
    notices.show(`A message can have at most ${config.limits.chatMaxLength} characters.`, { kind: "warning", key: "chat" });
    return;
  }
  if (!state.joined || connection.send({ type: "chat", text }) === null) {
    notices.show("You are not connected right now; your message was not sent. Try again in a moment.", { kind: "warning", key: "chat" });
    return;
  }
  view.chatInput.value = "";
});

// --- Start -------------------------------------------------------------------------

view.setConnection("idle");
view.setMuted(false);
view.showJoinForm({ name: state.name });
if (store.activeLobby === lobby.id && state.name) {
  // A reload of a tab that was in this lobby: resume its place.
  join({ name: state.name, password: "", resuming: true });
}
