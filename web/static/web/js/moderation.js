// The lobby creator's controls: remove a participant, lock or unlock the lobby, close it.
//
// The server says in `joined` whether this session may moderate
// (`can_moderate`: it created the lobby) and checks every request itself
// (`forbidden` otherwise); these controls only ask. A locked lobby lets no one
// new in; a removed participant may not come back for a while.

/** The frame that asks the server to remove `peerId`. */
export function kickFrame(peerId) {
  return { type: "kick", peer_id: peerId };
}

/** The frame that locks (true) or unlocks (false) the lobby. */
export function lockFrame(locked) {
  return { type: "lock_lobby", locked: Boolean(locked) };
}

/** What the lock button says, and what pressing it asks for, when the lobby is `locked`. */
export function lockButtonState(locked) {
  return locked
    ? { label: "Unlock lobby", pressed: true, next: false }
    : { label: "Lock lobby", pressed: false, next: true };
}

export class ModerationControls {
  /**
   * @param {object} options
   * @param {Document} options.root the page
   * @param {(frame: object) => (string|null)} options.send sends a frame; null when not connected
   * @param {(text: string) => boolean} [options.confirm] asks the person before something drastic
   */
  constructor({ root, send, confirm = (text) => globalThis.confirm(text) }) {
    this.root = root;
    this.send = send;
    this.confirm = confirm;
    this.canModerate = false;
    this.locked = false;
    this.panel = root.createElement("div");
    this.panel.className = "moderation";
    this.panel.hidden = true;
    this.panel.setAttribute("role", "group");
    this.panel.setAttribute("aria-label", "Moderation (you created this lobby)");
    this.lockButton = root.createElement("button");
    this.lockButton.type = "button";
    this.lockButton.addEventListener("click", () => this.send(lockFrame(lockButtonState(this.locked).next)));
    this.closeButton = root.createElement("button");
    this.closeButton.type = "button";
    this.closeButton.className = "danger";
    this.closeButton.textContent = "Close lobby";
    this.closeButton.addEventListener("click", () => {
      if (this.confirm("Close this lobby for everyone? Everyone in it is disconnected.")) {
        this.send({ type: "close_lobby" });
      }
    });
    this.panel.append(this.lockButton, " ", this.closeButton);
    const list = root.getElementById("participants");
    if (list) {
      list.after(this.panel);
    }
    this.renderLock();
  }

  /** After `joined`: show the controls to the lobby's creator only. */
  setup({ canModerate, locked }) {
    this.canModerate = Boolean(canModerate);
    this.locked = Boolean(locked);
    this.panel.hidden = !this.canModerate;
    this.renderLock();
  }

  /** A `lobby_updated` frame: the lock changed. */
  lobbyUpdated(lobby) {
    this.locked = Boolean(lobby.locked);
    this.renderLock();
  }

  renderLock() {
    const state = lockButtonState(this.locked);
    this.lockButton.textContent = state.label;
    this.lockButton.setAttribute("aria-pressed", String(state.pressed));
  }

  /** Gives each other person of the rendered list a "Remove" button (creator only; bots have their own). */
  decorate(list, selfId) {
    for (const li of list.querySelectorAll("li.participant")) {
      const existing = li.querySelector("button.kick");
      const wanted = this.canModerate && li.dataset.sessionId !== selfId && li.dataset.bot !== "true";
      if (!wanted) {
        existing?.remove();
        continue;
      }
      if (existing) {
        continue;
      }
      const button = this.root.createElement("button");
      button.type = "button";
      button.className = "kick";
      const name = li.querySelector(".name")?.textContent || "this participant";
      button.textContent = "Remove";
      button.setAttribute("aria-label", `Remove ${name} from the lobby`);
      button.addEventListener("click", () => {
        if (this.confirm(`Remove ${name} from the lobby? They cannot come back for a while.`)) {
          this.send(kickFrame(li.dataset.sessionId));
        }
      });
      li.append(button);
    }
  }
}
