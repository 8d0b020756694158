// The room page's DOM: the join form, the participant list, chat and controls.
// It renders what the controller tells it and reports what the person does;
// it knows nothing of sockets or peer connections.

const BOT_STATE_TEXT = {
  starting: "Starting…",
  listening: "Listening",
  thinking: "Thinking…",
  speaking: "Speaking",
  unavailable: "Unavailable",
};

const PEER_TEXT = {
  new: "Connecting audio…",
  connecting: "Connecting audio…",
  connected: "Audio connected",
  disconnected: "Audio interrupted…",
  failed: "Audio failed",
  closed: "No audio",
};

export class LobbyView {
  constructor(root) {
    const $ = (id) => root.getElementById(id);
    this.root = root;
    this.connectionState = $("connection-state");
    this.joinPanel = $("join-panel");
    this.joinForm = $("join-form");
    this.joinName = $("join-name");
    this.joinNameError = $("join-name-error");
    this.joinPassword = $("join-password");
    this.joinPasswordError = $("join-password-error");
    this.joinPasswordField = $("join-password-field");
    this.creatorNote = $("creator-note");
    this.joinButton = $("join-button");
    this.room = $("room");
    this.participants = $("participants");
    this.peopleCount = $("people-count");
    this.muteToggle = $("mute-toggle");
    this.pushToTalkToggle = $("push-to-talk");
    this.holdToTalk = $("hold-to-talk");
    this.talkState = $("talk-state");
    this.microphoneSelect = $("microphone");
    this.enableSound = $("enable-sound");
    this.leaveButton = $("leave");
    this.shareLink = $("share-link");
    this.copyLink = $("copy-link");
    this.chatLog = $("chat-log");
    this.chatForm = $("chat-form");
    this.chatInput = $("chat-input");
    this.leftPanel = $("left-panel");
    this.leftReason = $("left-reason");
    this.rejoinButton = $("rejoin");
    this.audioParent = $("remote-audio");
    this.selfId = null;
    // Called with (sessionId, name, volume 0-100) when the person moves someone's volume slider.
    this.onVolume = () => {};
    this.volumeOf = () => 100;
    // (li, participant) => void: a hook run after each participant row is filled.
    this.onParticipantRendered = null;
  }

  /** The status pill ({state, text} from room-status.js). */
  setConnection({ state, text }) {
    this.connectionState.dataset.state = state;
    this.connectionState.textContent = text;
  }

  /** The person created this lobby: the join form does not ask for its password. */
  setCreator(creator) {
    if (!this.joinPasswordField) {
      return;
    }
    this.joinPasswordField.hidden = creator;
    this.creatorNote.hidden = !creator;
  }

  // --- Joining ---------------------------------------------------------

  showJoinForm({ name = null, nameError = "", passwordError = "", busy = false } = {}) {
    this.room.hidden = true;
    this.leftPanel.hidden = true;
    this.joinPanel.hidden = false;
    if (name !== null) {
      this.joinName.value = name;
    }
    this.setFieldError(this.joinName, this.joinNameError, nameError);
    if (this.joinPassword) {
      this.setFieldError(this.joinPassword, this.joinPasswordError, passwordError);
    }
    this.setJoinBusy(busy);
    if (nameError) {
      this.joinName.focus();
    } else if (passwordError && this.joinPassword) {
      this.setCreator(false);
      this.joinPassword.value = "";
      this.joinPassword.focus();
    }
  }

  setFieldError(input, holder, text) {
    holder.textContent = text;
    holder.hidden = !text;
    if (text) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  setJoinBusy(busy) {
    this.joinButton.disabled = busy;
    this.joinButton.textContent = busy ? "Joining…" : "Join with microphone";
  }

  joinValues() {
    return {
      name: this.joinName.value,
      password: this.joinPassword ? this.joinPassword.value : "",
    };
  }

  showRoom() {
    this.joinPanel.hidden = true;
    this.leftPanel.hidden = true;
    this.room.hidden = false;
  }

  showLeft(reason, { canRejoin = true } = {}) {
    this.joinPanel.hidden = true;
    this.room.hidden = true;
    this.leftPanel.hidden = false;
    this.leftReason.textContent = reason;
    this.rejoinButton.hidden = !canRejoin;
  }

  // --- Participants ----------------------------------------------------

  renderParticipants(participants, selfId) {
    this.selfId = selfId;
    const ordered = [...participants.values()].sort((a, b) => {
      if (a.session_id === selfId) return -1;
      if (b.session_id === selfId) return 1;
      return a.name.localeCompare(b.name);
    });
    const existing = new Map([...this.participants.children].map((li) => [li.dataset.sessionId, li]));
    const items = ordered.map((participant) => {
      const li = existing.get(participant.session_id) || this.participantItem(participant.session_id);
      existing.delete(participant.session_id);
      this.fillParticipant(li, participant);
      return li;
    });
    existing.forEach((li) => li.remove());
    this.participants.replaceChildren(...items);
    this.peopleCount.textContent = `(${ordered.length})`;
    // A hook for what others add to each participant (the creator's controls).
    this.onParticipantsRendered?.(this.participants, selfId);
  }

  participantItem(sessionId) {
    const li = document.createElement("li");
    li.className = "participant";
    li.dataset.sessionId = sessionId;
    li.dataset.speaking = "false";
    li.innerHTML = '<span class="avatar" aria-hidden="true"></span>'
      + '<span class="who"><span class="name"></span><span class="tag"></span></span>'
      + '<span class="badges"><span class="badge badge-muted">Muted</span>'
      + '<span class="badge badge-status"></span><span class="badge badge-bot-state"></span>'
      + '<span class="peer-state"></span></span>'
      + '<div class="volume"><span class="volume-label" aria-hidden="true">Volume</span>'
      + '<input type="range" min="0" max="100" step="5" value="100"><output class="volume-value">100%</output></div>';
    const slider = li.querySelector(".volume input");
    slider.addEventListener("input", () => {
      const name = li.querySelector(".name").textContent;
      li.querySelector(".volume-value").textContent = `${slider.value}%`;
      this.onVolume(sessionId, name, Number(slider.value));
    });
    return li;
  }

  fillParticipant(li, participant) {
    const self = participant.session_id === this.selfId;
    li.dataset.self = String(self);
    li.dataset.muted = String(Boolean(participant.muted));
    li.dataset.status = participant.status;
    li.dataset.bot = String(Boolean(participant.is_bot));
    li.querySelector(".avatar").textContent = (participant.name.trim()[0] || "?").toUpperCase();
    li.querySelector(".name").textContent = participant.name;
    li.querySelector(".tag").textContent = self ? " (you)" : participant.is_bot ? " (bot)" : "";
    li.querySelector(".badge-muted").hidden = !participant.muted;
    const status = li.querySelector(".badge-status");
    status.hidden = participant.status !== "reconnecting";
    status.textContent = participant.status === "reconnecting" ? "Reconnecting…" : "";
    const botState = li.querySelector(".badge-bot-state");
    const state = participant.is_bot && participant.bot ? participant.bot.state : "";
    botState.hidden = !state;
    botState.textContent = state ? BOT_STATE_TEXT[state] || state : "";
    li.dataset.botState = state;
    if (self) {
      li.querySelector(".peer-state").textContent = "";
    }
    const volume = li.querySelector(".volume");
    volume.hidden = self;
    if (!self) {
      volume.querySelector("input").setAttribute("aria-label", `Volume of ${participant.name}`);
      if (!li.dataset.volumeSet) {
        // The volume this browser remembers for the name, set once per item.
        li.dataset.volumeSet = "true";
        const remembered = this.volumeOf(participant.name);
        volume.querySelector("input").value = String(remembered);
        volume.querySelector(".volume-value").textContent = `${remembered}%`;
      }
    }
    if (this.onParticipantRendered) {
      this.onParticipantRendered(li, participant);
    }
  }

  item(sessionId) {
    return [...this.participants.children].find((li) => li.dataset.sessionId === sessionId) || null;
  }

  setPeerState(sessionId, state) {
    const li = this.item(sessionId);
    if (!li || li.dataset.self === "true") {
      return;
    }
    if (state) {
      li.dataset.peerState = state;
    } else {
      delete li.dataset.peerState;
    }
    li.querySelector(".peer-state").textContent = state ? PEER_TEXT[state] || "" : "";
  }

  setSpeaking(sessionId, speaking) {
    const li = this.item(sessionId);
    if (li && li.dataset.speaking !== String(speaking)) {
      li.dataset.speaking = String(speaking);
      li.classList.toggle("speaking", speaking);
      li.querySelector(".avatar").title = speaking ? "Speaking" : "";
    }
  }

  // --- Controls --------------------------------------------------------

  setMuted(muted) {
    this.muteToggle.setAttribute("aria-pressed", String(muted));
    this.muteToggle.textContent = muted ? "Unmute" : "Mute";
  }

  /** Push to talk on or off, and whether the microphone is live now. */
  setTalk({ pushToTalk, live, muted }) {
    this.pushToTalkToggle.setAttribute("aria-pressed", String(pushToTalk));
    this.holdToTalk.hidden = !pushToTalk;
    this.holdToTalk.dataset.live = String(live);
    this.holdToTalk.setAttribute("aria-pressed", String(pushToTalk && live));
    this.talkState.dataset.live = String(live);
    this.talkState.textContent = live
      ? "Others hear you."
      : muted ? "You are muted." : "Push to talk: hold Space or the button to talk.";
  }

  setMicrophones(devices, selectedId) {
    const options = [new Option("Default microphone", "")];
    for (const device of devices) {
      options.push(new Option(device.label, device.deviceId));
    }
    this.microphoneSelect.replaceChildren(...options);
    this.microphoneSelect.value = devices.some((d) => d.deviceId === selectedId) ? selectedId : "";
  }

  // --- Chat --------------------------------------------------------------

  /** Shows `messages` (oldest first) and scrolls to the newest; call it with the room shown. */
  replaceChat(messages) {
    this.chatLog.replaceChildren();
    messages.forEach((message) => this.appendChat(message));
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  hasChat(id) {
    return typeof id === "string" && [...this.chatLog.children].some((li) => li.dataset.chatId === id);
  }

  appendChat(message) {
    const li = document.createElement("li");
    li.className = "chat-message";
    li.dataset.sessionId = message.session_id;
    if (typeof message.id === "string") {
      li.dataset.chatId = message.id;
    }
    if (message.session_id === this.selfId) {
      li.classList.add("own");
    }
    const meta = document.createElement("span");
    meta.className = "chat-meta";
    const author = document.createElement("span");
    author.className = "chat-author";
    author.textContent = message.name;
    const time = document.createElement("time");
    const when = new Date(message.ts);
    if (!Number.isNaN(when.getTime())) {
      time.dateTime = when.toISOString();
      time.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    meta.append(author, " ", time);
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = message.text;
    li.append(meta, text);
    const atBottom = this.chatLog.scrollHeight - this.chatLog.scrollTop - this.chatLog.clientHeight < 40;
    this.chatLog.append(li);
    if (atBottom) {
      this.chatLog.scrollTop = this.chatLog.scrollHeight;
    }
  }
}
