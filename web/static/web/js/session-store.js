// The guest session of this tab, and the preferences of this browser.
//
// The session token lives in sessionStorage: a reload or a reconnect of the
// tab resumes the same participant, while a second tab gets a session of its
// own (two tabs sharing one would keep replacing each other's socket). The
// lobbies this tab's session created are remembered with it (their creator
// is not asked for their password). The name, the chosen microphone, push to
// talk and the volume of each person are remembered in localStorage.

const SESSION_KEY = "voicebot.session";
const ACTIVE_LOBBY_KEY = "voicebot.activeLobby";
const CREATED_KEY = "voicebot.createdLobbies";
const NAME_KEY = "voicebot.name";
const MICROPHONE_KEY = "voicebot.microphone";
const PUSH_TO_TALK_KEY = "voicebot.pushToTalk";
const VOLUMES_KEY = "voicebot.volumes";
// Volumes remembered, at most (the oldest go first).
const VOLUMES_KEPT = 200;

function storageOf(name) {
  try {
    const storage = globalThis[name];
    const probe = "voicebot.probe";
    storage.setItem(probe, probe);
    storage.removeItem(probe);
    return storage;
  } catch {
    // Storage can be disabled (private modes, strict settings): fall back to
    // memory, which lasts as long as the page.
    const memory = new Map();
    return {
      getItem: (key) => (memory.has(key) ? memory.get(key) : null),
      setItem: (key, value) => { memory.set(key, String(value)); },
      removeItem: (key) => { memory.delete(key); },
    };
  }
}

export class SessionStore {
  constructor({ tab = storageOf("sessionStorage"), browser = storageOf("localStorage"), api } = {}) {
    this.tab = tab;
    this.browser = browser;
    this.api = api;
  }

  get session() {
    try {
      const value = JSON.parse(this.tab.getItem(SESSION_KEY));
      return value && typeof value.token === "string" && typeof value.session_id === "string" ? value : null;
    } catch {
      return null;
    }
  }

  set session(value) {
    if (value) {
      this.tab.setItem(SESSION_KEY, JSON.stringify({ session_id: value.session_id, token: value.token }));
    } else {
      this.tab.removeItem(SESSION_KEY);
    }
  }

  /** The stored session, or a new one from the server. */
  async ensure() {
    const existing = this.session;
    if (existing) {
      return existing;
    }
    const created = await this.api.createSession(this.name || undefined);
    this.session = created;
    return this.session;
  }

  /** Forgets the session and gets a new one (recovery "reauthenticate"). */
  async renew() {
    this.session = null;
    // A new session created no lobby.
    this.tab.removeItem(CREATED_KEY);
    return this.ensure();
  }

  get name() {
    return this.browser.getItem(NAME_KEY) || "";
  }

  set name(value) {
    this.browser.setItem(NAME_KEY, value);
  }

  get microphone() {
    return this.browser.getItem(MICROPHONE_KEY) || "";
  }

  set microphone(deviceId) {
    if (deviceId) {
      this.browser.setItem(MICROPHONE_KEY, deviceId);
    } else {
      this.browser.removeItem(MICROPHONE_KEY);
    }
  }

  /** The lobby this tab is in (so that a reload joins it again), or "". */
  get activeLobby() {
    return this.tab.getItem(ACTIVE_LOBBY_KEY) || "";
  }

  set activeLobby(lobbyId) {
    if (lobbyId) {
      this.tab.setItem(ACTIVE_LOBBY_KEY, lobbyId);
    } else {
      this.tab.removeItem(ACTIVE_LOBBY_KEY);
    }
  }

  /** Remembers that this tab's session created `lobbyId`. */
  markCreated(lobbyId) {
    const created = this.createdLobbies();
    if (!created.includes(lobbyId)) {
      this.tab.setItem(CREATED_KEY, JSON.stringify([...created, lobbyId].slice(-50)));
    }
  }

  /** Whether this tab's session created `lobbyId` (a new session is the creator of nothing). */
  created(lobbyId) {
    return this.createdLobbies().includes(lobbyId);
  }

  createdLobbies() {
    try {
      const value = JSON.parse(this.tab.getItem(CREATED_KEY));
      return Array.isArray(value) ? value.filter((id) => typeof id === "string") : [];
    } catch {
      return [];
    }
  }

  get pushToTalk() {
    return this.browser.getItem(PUSH_TO_TALK_KEY) === "on";
  }

  set pushToTalk(on) {
    this.browser.setItem(PUSH_TO_TALK_KEY, on ? "on" : "off");
  }

  /** The volume (0 to 100) this browser plays `name` at; 100 unless set. Names compare ignoring case. */
  volumeOf(name) {
    const volume = this.volumes()[String(name).toLowerCase()];
    return Number.isFinite(volume) ? Math.min(100, Math.max(0, volume)) : 100;
  }

  setVolume(name, volume) {
    const volumes = this.volumes();
    const key = String(name).toLowerCase();
    delete volumes[key];
    if (volume !== 100) {
      volumes[key] = Math.min(100, Math.max(0, Math.round(volume)));
    }
    const kept = Object.entries(volumes).slice(-VOLUMES_KEPT);
    this.browser.setItem(VOLUMES_KEY, JSON.stringify(Object.fromEntries(kept)));
  }

  volumes() {
    try {
      const value = JSON.parse(this.browser.getItem(VOLUMES_KEY));
      return value && typeof value === "object" && !Array.isArray(value) ? value : {};
    } catch {
      return {};
    }
  }
}
