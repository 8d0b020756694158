// Bots in the room: the "Add a bot" form, each bot's badge, state and remove button in the
// participant list, and the transcripts bots post, kept apart from typed chat.
//
// The page wires it with a few hooks: decorate() for each participant row the view renders,
// isTranscript()/appendTranscript()/replaceTranscripts() for chat, setJoined() to enable the
// form. It talks to the JSON API itself (GET /api/bots, POST and DELETE .../bots).

import { apiRequest } from "./api.js";

const KIND_NAMES = { echo: "Echo", announcer: "Announcer", captioner: "Captioner", assistant: "Assistant" };

// While a choice is unavailable (no worker yet, a provider down), the list is asked for again
// this often, so that a bot becomes available on the page without a reload.
export const RECHECK_MS = 10000;

export const botsApi = {
  list: () => apiRequest("/api/bots"),
  add: (token, lobbyId, fields) => apiRequest(`/api/lobbies/${encodeURIComponent(lobbyId)}/bots`, { method: "POST", body: fields, token }),
  remove: (token, lobbyId, sessionId) => apiRequest(
    `/api/lobbies/${encodeURIComponent(lobbyId)}/bots/${encodeURIComponent(sessionId)}`, { method: "DELETE", token },
  ),
};

/** The options of the "Add a bot" menu: each kind, then each profile; unavailable ones disabled with the reason. */
export function botChoices({ kinds, profiles }) {
  const byKind = new Map(kinds.map((kind) => [kind.kind, kind]));
  const choices = kinds.map((kind) => ({
    value: `kind:${kind.kind}`,
    kind: kind.kind,
    profile: null,
    label: KIND_NAMES[kind.kind] || kind.kind,
    description: kind.description,
    available: kind.available,
    reason: kind.reason,
  }));
  for (const profile of profiles) {
    const kind = byKind.get(profile.kind);
    choices.push({
      value: `profile:${profile.id}`,
      kind: profile.kind,
      profile: profile.id,
      label: `${profile.name} (${KIND_NAMES[profile.kind] || profile.kind})`,
      description: profile.description || (kind ? kind.description : ""),
      available: Boolean(kind && kind.available),
      reason: kind ? kind.reason : "This kind of bot is not known to this server.",
    });
  }
  return choices;
}

export class BotsPanel {
  constructor({ root, lobbyId, token, notices, errorText, api = botsApi }) {
    const $ = (id) => root.getElementById(id);
    this.root = root;
    this.lobbyId = lobbyId;
    this.token = token;
    this.notices = notices;
    this.errorText = errorText;
    this.api = api;
    this.form = $("bot-form");
    this.select = $("bot-choice");
    this.hint = $("bot-hint");
    this.button = $("bot-add");
    this.transcriptsPanel = $("transcripts");
    this.transcriptLog = $("transcript-log");
    this.choices = [];
    this.joined = false;
    this.names = new Map();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addSelected();
    });
    this.select.addEventListener("change", () => this.showHint());
    this.select.addEventListener("focus", () => this.refresh());
  }

  setJoined(joined) {
    this.joined = joined;
    if (joined) {
      this.refresh();
    } else {
      clearTimeout(this.recheck);
    }
    this.updateButton();
  }

  async refresh() {
    clearTimeout(this.recheck);
    let listing;
    try {
      listing = await this.api.list();
    } catch (error) {
      this.hint.textContent = "The list of bots could not be loaded. Try again in a moment.";
      this.recheckLater();
      return;
    }
    const selected = this.select.value;
    this.choices = botChoices(listing);
    const options = this.choices.map((choice) => {
      const option = new Option(choice.available ? choice.label : `${choice.label} (unavailable)`, choice.value);
      option.disabled = !choice.available;
      option.title = choice.available ? choice.description : choice.reason || "";
      option.dataset.kind = choice.kind;
      return option;
    });
    this.select.replaceChildren(...options);
    const keep = this.choices.find((c) => c.value === selected && c.available) || this.choices.find((c) => c.available);
    this.select.value = keep ? keep.value : (this.choices[0] || {}).value || "";
    this.showHint();
    if (this.choices.some((choice) => !choice.available)) {
      this.recheckLater();
    }
  }

  recheckLater() {
    clearTimeout(this.recheck);
    if (this.joined) {
      this.recheck = setTimeout(() => this.refresh(), RECHECK_MS);
    }
  }

  selected() {
    return this.choices.find((choice) => choice.value === this.select.value) || null;
  }

  showHint() {
    const choice = this.selected();
    this.hint.textContent = !choice ? "" : choice.available ? choice.description : choice.reason || "";
    this.hint.dataset.available = String(Boolean(choice && choice.available));
    this.updateButton();
  }

  updateButton() {
    const choice = this.selected();
    this.button.disabled = !this.joined || !choice || !choice.available || this.busy;
  }

  async addSelected() {
    const choice = this.selected();
    if (!choice || !choice.available) {
      return;
    }
    this.busy = true;
    this.updateButton();
    try {
      const body = choice.profile ? { kind: choice.kind, profile: choice.profile } : { kind: choice.kind };
      await this.api.add(await this.token(), this.lobbyId, body);
      this.notices.show(`${choice.label} is joining…`, { kind: "info", key: "bot", timeoutMs: 4000 });
    } catch (error) {
      this.notices.show(this.errorText(error), { kind: "warning", key: "bot", code: error.code, reference: error.correlation_id });
      this.refresh();
    } finally {
      this.busy = false;
      this.updateButton();
    }
  }

  async remove(participant) {
    try {
      await this.api.remove(await this.token(), this.lobbyId, participant.session_id);
    } catch (error) {
      this.notices.show(this.errorText(error), { kind: "warning", key: "bot", code: error.code, reference: error.correlation_id });
    }
  }

  /** Adds the bot badge (its kind) and a remove button to a participant row (nothing for people);
   * the view shows the bot's state. */
  decorate(li, participant) {
    this.names.set(participant.session_id, participant.name);
    const badges = li.querySelector(".badges");
    let badge = li.querySelector(".badge-bot");
    if (!participant.is_bot) {
      li.querySelectorAll(".badge-bot, .bot-remove").forEach((node) => node.remove());
      return;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge badge-bot";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "bot-remove";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => this.remove(li.botParticipant));
      badges.prepend(badge);
      badges.append(remove);
    }
    li.botParticipant = participant;
    const bot = participant.bot || {};
    badge.textContent = `Bot · ${KIND_NAMES[bot.kind] || bot.kind || "bot"}`;
    li.querySelector(".bot-remove").setAttribute("aria-label", `Remove ${participant.name}`);
    li.querySelector(".tag").textContent = "";
  }

  // --- Transcripts ---------------------------------------------------------

  isTranscript(message) {
    return Boolean(message.transcript && typeof message.transcript.speaker_session_id === "string");
  }

  replaceTranscripts(messages) {
    this.transcriptLog.replaceChildren();
    messages.forEach((message) => this.appendTranscript(message));
    this.transcriptsPanel.hidden = messages.length === 0;
  }

  appendTranscript(message) {
    this.transcriptsPanel.hidden = false;
    const li = document.createElement("li");
    li.className = "transcript";
    li.dataset.speaker = message.transcript.speaker_session_id;
    const speaker = document.createElement("span");
    speaker.className = "transcript-speaker";
    speaker.textContent = this.names.get(message.transcript.speaker_session_id) || "Someone";
    const text = document.createElement("span");
    text.className = "transcript-text";
    text.textContent = message.text;
    li.append(speaker, ": ", text);
    li.title = `Transcribed by ${message.name}`;
    this.transcriptLog.append(li);
    this.transcriptLog.scrollTop = this.transcriptLog.scrollHeight;
  }
}
