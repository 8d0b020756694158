// Perfect negotiation for one RTCPeerConnection.
//
// The server tells each side of a pair whether it is polite. Either side may
// make an offer whenever its connection needs negotiating; when two offers
// cross ("glare"), the impolite side ignores the offer it receives and the
// polite side rolls its own offer back and answers. The same code therefore
// handles the first offer, renegotiation (a new microphone, an ICE restart)
// and collisions.
//
// `PerfectNegotiator` takes the connection and two send functions, so that it
// runs against any object with the RTCPeerConnection methods it uses (the
// unit tests drive it with a small model of the signaling state machine).

/**
 * What to do with a remote description, from the state of our side.
 *
 * An offer collides when we are making an offer ourselves, or we are not in
 * `stable` (unless the only reason is that an answer is being applied).
 */
export function collisionDecision({ descriptionType, polite, makingOffer, signalingState, settingRemoteAnswer }) {
  const readyForOffer = !makingOffer && (signalingState === "stable" || settingRemoteAnswer);
  const collision = descriptionType === "offer" && !readyForOffer;
  return {
    collision,
    ignore: collision && !polite,
    rollback: collision && polite && signalingState === "have-local-offer",
  };
}

export class PerfectNegotiator {
  /**
   * @param {object} options
   * @param {RTCPeerConnection} options.pc
   * @param {boolean} options.polite
   * @param {boolean} options.offerFirst  whether this side starts the first negotiation
   *   (the server's `should_create_offer`); the other side waits for that offer, so
   *   that one round trip sets the connection up.
   * @param {(description: {type: string, sdp: string}) => void} options.sendDescription
   * @param {(candidate: object) => void} options.sendCandidate
   * @param {() => (void|Promise<void>)} [options.beforeAnswer]  runs between applying a
   *   remote offer and creating the answer (to attach the local track to the new transceiver).
   * @param {(error: Error) => void} [options.onError]
   */
  constructor({ pc, polite, offerFirst, sendDescription, sendCandidate, beforeAnswer = () => {}, onError = () => {} }) {
    this.pc = pc;
    this.polite = polite;
    this.sendDescription = sendDescription;
    this.sendCandidate = sendCandidate;
    this.beforeAnswer = beforeAnswer;
    this.onError = onError;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    // The waiting side offers only after the first exchange it did not start.
    this.mayOffer = offerFirst;
    this.pendingCandidates = [];
    this.closed = false;
    pc.addEventListener("negotiationneeded", () => { this.negotiate(); });
    pc.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate;
      // Chromium marks the end of gathering with a null or empty candidate:
      // the protocol carries only real ones.
      if (candidate && candidate.candidate) {
        this.sendCandidate(typeof candidate.toJSON === "function" ? candidate.toJSON() : candidate);
      }
    });
  }

  /** Makes and sends an offer; called on `negotiationneeded`. */
  async negotiate() {
    if (!this.mayOffer || this.closed) {
      return;
    }
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      if (this.pc.localDescription && this.pc.localDescription.type === "offer") {
        this.sendDescription(plainDescription(this.pc.localDescription));
      }
    } catch (error) {
      if (!this.closed) {
        this.onError(error);
      }
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Applies a remote description; answers an offer. Returns what happened:
   * "ignored" (an impolite side's collision), "answered" or "applied".
   */
  async handleDescription(description) {
    const decision = collisionDecision({
      descriptionType: description.type,
      polite: this.polite,
      makingOffer: this.makingOffer,
      signalingState: this.pc.signalingState,
      settingRemoteAnswer: this.settingRemoteAnswer,
    });
    this.ignoreOffer = decision.ignore;
    if (decision.ignore) {
      return "ignored";
    }
    if (decision.rollback) {
      await this.pc.setLocalDescription({ type: "rollback" });
    }
    this.settingRemoteAnswer = description.type === "answer";
    try {
      await this.pc.setRemoteDescription(description);
    } finally {
      this.settingRemoteAnswer = false;
    }
    await this.flushCandidates();
    if (description.type !== "offer") {
      return "applied";
    }
    await this.beforeAnswer();
    await this.pc.setLocalDescription();
    this.sendDescription(plainDescription(this.pc.localDescription));
    this.mayOffer = true;
    return "answered";
  }

  /** Adds a remote candidate; holds it until a remote description is there. */
  async handleCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    await this.addCandidate(candidate);
  }

  async flushCandidates() {
    const held = this.pendingCandidates.splice(0);
    for (const candidate of held) {
      await this.addCandidate(candidate);
    }
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      // Candidates of an offer we ignored fail to apply; that is expected.
      if (!this.ignoreOffer) {
        throw error;
      }
    }
  }

  close() {
    this.closed = true;
    this.pendingCandidates = [];
  }
}

function plainDescription(description) {
  return { type: description.type, sdp: description.sdp };
}

/**
 * What to do when a connection's state changes: restart ICE on the first
 * failure, and report a failure that the restart did not fix. Once the
 * connection is up again, a later failure gets a restart of its own.
 */
export class IceRestartPolicy {
  constructor() {
    this.restarted = false;
  }

  /** Returns "restart", "give-up" or null for a new connectionState. */
  onState(state) {
    if (state === "connected") {
      this.restarted = false;
      return null;
    }
    if (state !== "failed") {
      return null;
    }
    if (this.restarted) {
      return "give-up";
    }
    this.restarted = true;
    return "restart";
  }
}
