// Whether the microphone is live: mute, and push to talk.
//
// Muted means silent. With push to talk on, the microphone is live only
// while the talk key or button is held. Others see "muted" whenever the
// microphone is not live, so that they know who can be heard.

export class TalkMode extends EventTarget {
  constructor({ muted = false, pushToTalk = false } = {}) {
    super();
    this.muted = muted;
    this.pushToTalk = pushToTalk;
    this.holding = false;
  }

  /** Whether the microphone sends sound now. */
  get live() {
    return !this.muted && (!this.pushToTalk || this.holding);
  }

  update(change) {
    const before = this.live;
    change();
    this.dispatchEvent(new CustomEvent("change", { detail: { live: this.live, changed: before !== this.live } }));
  }

  toggleMute() {
    this.update(() => { this.muted = !this.muted; });
  }

  /** Muted from elsewhere (a bot the person asked to mute them). */
  mute() {
    if (!this.muted) {
      this.update(() => { this.muted = true; });
    }
  }

  setPushToTalk(on) {
    this.update(() => {
      this.pushToTalk = Boolean(on);
      this.holding = false;
    });
  }

  /** The talk key or button went down (ignored unless push to talk is on). */
  press() {
    if (this.pushToTalk && !this.holding) {
      this.update(() => { this.holding = true; });
    }
  }

  release() {
    if (this.holding) {
      this.update(() => { this.holding = false; });
    }
  }
}
