// The guest session of this tab, and the preferences of this browser.
//
// The session token lives in sessionStorage: a reload or a reconnect of the
// tab resumes the same participant, while a second tab gets a session of its
// own (two tabs sharing one would keep replacing each other's socket). The
// name and the chosen microphone are remembered in localStorage.

const SESSION_KEY = "voicebot.session";
const ACTIVE_LOBBY_KEY = "voicebot.activeLobby";
const HANDOFF_KEY = "voicebot.lobbyPassword.";
const NAME_KEY = "voicebot.name";
const MICROPHONE_KEY = "voicebot.microphone";

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

  /** Keeps the password of a lobby just created, for its room page to read once. */
  handOffPassword(lobbyId, password) {
    this.tab.setItem(HANDOFF_KEY + lobbyId, password);
  }

  takePassword(lobbyId) {
    const password = this.tab.getItem(HANDOFF_KEY + lobbyId) || "";
    this.tab.removeItem(HANDOFF_KEY + lobbyId);
    return password;
  }
}
