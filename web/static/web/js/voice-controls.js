// The room's voice controls: mute, push to talk (a key or a button held), their keyboard
// shortcuts, and the volume of each person. Wiring between TalkMode, the microphone and the
// view; it tells the page when what others see ("muted") changes.

import { ShortcutKeys } from "./shortcuts.js";
import { TalkMode } from "./talk-mode.js";

export class VoiceControls extends EventTarget {
  /**
   * @param {{view: object, microphone: object, mesh: object, store: object, isInRoom: () => boolean}} parts
   */
  constructor({ view, microphone, mesh, store, isInRoom }) {
    super();
    this.view = view;
    this.microphone = microphone;
    this.mesh = mesh;
    this.store = store;
    this.talk = new TalkMode({ pushToTalk: store.pushToTalk });
    this.talk.addEventListener("change", ({ detail: { changed } }) => {
      this.render();
      if (changed) {
        this.dispatchEvent(new CustomEvent("mutedchange", { detail: { muted: this.shownMuted } }));
      }
    });
    view.muteToggle.addEventListener("click", () => this.talk.toggleMute());
    view.pushToTalkToggle.addEventListener("click", () => {
      this.talk.setPushToTalk(!this.talk.pushToTalk);
      store.pushToTalk = this.talk.pushToTalk;
    });
    const hold = view.holdToTalk;
    hold.addEventListener("pointerdown", (event) => {
      hold.setPointerCapture?.(event.pointerId);
      this.talk.press();
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      hold.addEventListener(type, () => this.talk.release());
    }
    // Enter held on the focused button talks as well (Space is the page-wide shortcut).
    hold.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.talk.press();
      }
    });
    hold.addEventListener("keyup", (event) => {
      if (event.key === "Enter") {
        this.talk.release();
      }
    });
    this.shortcuts = new ShortcutKeys({
      target: document,
      isActive: isInRoom,
      pushToTalk: () => this.talk.pushToTalk,
      onMute: () => this.talk.toggleMute(),
      onTalkStart: () => this.talk.press(),
      onTalkEnd: () => this.talk.release(),
    });
    view.volumeOf = (name) => store.volumeOf(name);
    view.onVolume = (sessionId, name, volume) => {
      mesh.setVolume(sessionId, volume / 100);
      store.setVolume(name, volume);
    };
    this.render();
  }

  /** The server says this person is muted while the microphone is live (a bot muted them): mute it. */
  mutedByServer() {
    if (!this.shownMuted) {
      this.talk.mute();
    }
  }

  /** What others are told: muted whenever the microphone is not live. */
  get shownMuted() {
    return !this.talk.live;
  }

  render() {
    this.microphone.setMuted(!this.talk.live);
    this.view.setMuted(this.talk.muted);
    this.view.setTalk({ pushToTalk: this.talk.pushToTalk, live: this.talk.live, muted: this.talk.muted });
  }

  /** Plays a person at the volume this browser remembers for their name. */
  applyVolume(participant) {
    this.mesh.setVolume(participant.session_id, this.store.volumeOf(participant.name) / 100);
  }
}
