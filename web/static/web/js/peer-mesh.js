// The voice mesh: one RTCPeerConnection per other participant.
//
// The server drives it: `add_peer` creates a link (with `polite` and
// `should_create_offer` from the server), `remove_peer` closes one, and the
// relayed descriptions and candidates are applied in arrival order (a single
// SerialQueue). Each link negotiates with PerfectNegotiator, plays the
// remote audio in an <audio> element of its own, restarts ICE once when the
// connection fails and reports the failure if that does not help.

import { IceRestartPolicy, PerfectNegotiator } from "./negotiation.js";
import { SerialQueue } from "./serial-queue.js";
import { levelFromStats } from "./speaking.js";

// Milliseconds between two reads of a peer's stats, for a sender that marks no levels.
const STATS_LEVEL_INTERVAL_MS = 250;

export class PeerLink {
  constructor({ peerId, polite, offerFirst, iceServers, localTrack, localStream, signal, audioParent, onChange, RTCPeerConnectionImpl,
    volume = 1 }) {
    this.peerId = peerId;
    this.polite = polite;
    this.onChange = onChange;
    this.iceRestarts = new IceRestartPolicy();
    this.failedForGood = false;
    this.closed = false;
    this.localTrack = localTrack;
    this.localStream = localStream;
    this.statsLevel = 0;
    this.statsSample = null;
    this.statsReadAt = -Infinity;
    this.pc = new RTCPeerConnectionImpl({ iceServers });
    this.audio = document.createElement("audio");
    this.audio.autoplay = true;
    this.audio.volume = volume;
    this.audio.dataset.peerId = peerId;
    audioParent.append(this.audio);
    this.negotiator = new PerfectNegotiator({
      pc: this.pc,
      polite,
      offerFirst,
      sendDescription: (description) => signal.sendDescription(peerId, description),
      sendCandidate: (candidate) => signal.sendCandidate(peerId, candidate),
      beforeAnswer: () => this.attachLocalTrack(),
      onError: (error) => this.onChange(this, "error", error),
    });
    this.pc.addEventListener("track", (event) => {
      const stream = event.streams && event.streams[0] ? event.streams[0] : new MediaStream([event.track]);
      if (this.audio.srcObject !== stream) {
        this.audio.srcObject = stream;
      }
      this.playAudio();
    });
    this.pc.addEventListener("connectionstatechange", () => this.connectionChanged());
    if (offerFirst) {
      // Starts the first negotiation (negotiationneeded fires on this transceiver).
      this.transceiver = this.pc.addTransceiver(localTrack || "audio", {
        direction: localTrack ? "sendrecv" : "recvonly",
        streams: localStream ? [localStream] : [],
      });
    } else {
      this.transceiver = null;
    }
  }

  get state() {
    if (this.closed) {
      return "closed";
    }
    if (this.failedForGood) {
      return "failed";
    }
    return this.pc.connectionState;
  }

  playAudio() {
    const playing = this.audio.play();
    if (playing && typeof playing.catch === "function") {
      playing.catch((error) => {
        if (error && error.name === "NotAllowedError") {
          this.onChange(this, "autoplay-blocked", error);
        }
      });
    }
  }

  audioTransceiver() {
    if (this.transceiver) {
      return this.transceiver;
    }
    this.transceiver = this.pc.getTransceivers().find((t) => t.receiver.track && t.receiver.track.kind === "audio") || null;
    return this.transceiver;
  }

  /** Puts the local track on this link's sender (before answering, or when the microphone changes). */
  async attachLocalTrack() {
    const transceiver = this.audioTransceiver();
    if (!transceiver) {
      return;
    }
    await transceiver.sender.replaceTrack(this.localTrack || null);
    if (this.localStream && typeof transceiver.sender.setStreams === "function") {
      transceiver.sender.setStreams(this.localStream);
    }
    const direction = this.localTrack ? "sendrecv" : "recvonly";
    if (transceiver.direction !== direction) {
      // After the first exchange this renegotiates (negotiationneeded).
      transceiver.direction = direction;
    }
  }

  async setLocalTrack(track, stream) {
    this.localTrack = track;
    this.localStream = stream;
    if (this.pc.signalingState === "closed") {
      return;
    }
    await this.attachLocalTrack();
  }

  connectionChanged() {
    if (this.closed) {
      return;
    }
    const state = this.pc.connectionState;
    const action = this.iceRestarts.onState(state);
    if (action === "restart") {
      // A restart renegotiates with fresh ICE credentials (negotiationneeded).
      this.onChange(this, "ice-restart");
      this.pc.restartIce();
    } else if (action === "give-up") {
      this.failedForGood = true;
      this.onChange(this, "failed");
    } else if (state === "connected") {
      this.failedForGood = false;
    }
    this.onChange(this, "state", this.state);
  }

  /** How loud this peer plays here, 0 to 1 (the person's choice; their own microphone is untouched). */
  setVolume(volume) {
    this.audio.volume = Math.min(1, Math.max(0, volume));
  }

  /**
   * The level (0 to 1) of the audio arriving from this peer. Senders that mark the level in their
   * packets (browsers) give it at once; for the others (many bots) it comes from the decoded
   * audio's energy in the connection's stats, read every STATS_LEVEL_INTERVAL_MS.
   */
  level(nowMs = performance.now()) {
    const marked = this.markedLevel();
    if (marked !== null) {
      return marked;
    }
    if (nowMs - this.statsReadAt >= STATS_LEVEL_INTERVAL_MS) {
      this.statsReadAt = nowMs;
      this.readStatsLevel().catch(() => {});
    }
    return this.statsLevel;
  }

  markedLevel() {
    const transceiver = this.audioTransceiver();
    if (!transceiver || typeof transceiver.receiver.getSynchronizationSources !== "function") {
      return null;
    }
    let level = null;
    for (const source of transceiver.receiver.getSynchronizationSources()) {
      if (typeof source.audioLevel === "number") {
        level = Math.max(level ?? 0, source.audioLevel);
      }
    }
    return level;
  }

  async readStatsLevel() {
    if (this.closed || typeof this.pc.getStats !== "function") {
      return;
    }
    let sample = null;
    (await this.pc.getStats()).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "audio" && typeof report.totalAudioEnergy === "number") {
        sample = { totalAudioEnergy: report.totalAudioEnergy, totalSamplesDuration: report.totalSamplesDuration };
      }
    });
    this.statsLevel = levelFromStats(this.statsSample, sample);
    this.statsSample = sample;
  }

  close() {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.negotiator.close();
    this.pc.close();
    this.audio.pause();
    this.audio.srcObject = null;
    this.audio.remove();
  }
}

export class PeerMesh extends EventTarget {
  constructor({ iceServers = [], signal, audioParent, RTCPeerConnectionImpl = globalThis.RTCPeerConnection }) {
    super();
    this.iceServers = iceServers;
    this.signal = signal;
    this.audioParent = audioParent;
    this.RTCPeerConnectionImpl = RTCPeerConnectionImpl;
    this.links = new Map();
    this.localTrack = null;
    this.localStream = null;
    // What each peer plays at, 0 to 1, for links made later too.
    this.volumes = new Map();
    this.queue = new SerialQueue({ onError: (error) => this.emit("error", { error }) });
  }

  /** Plays `peerId` at `volume` (0 to 1), now and on every link to it later. */
  setVolume(peerId, volume) {
    this.volumes.set(peerId, volume);
    this.links.get(peerId)?.setVolume(volume);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Queues one signaling step, so that steps run in the order frames arrived. */
  enqueue(step) {
    return this.queue.push(step);
  }

  addPeer({ peerId, shouldCreateOffer, polite }) {
    return this.enqueue(() => {
      this.closeLink(peerId);
      const link = new PeerLink({
        peerId,
        polite,
        offerFirst: shouldCreateOffer,
        iceServers: this.iceServers,
        localTrack: this.localTrack,
        localStream: this.localStream,
        signal: this.signal,
        audioParent: this.audioParent,
        RTCPeerConnectionImpl: this.RTCPeerConnectionImpl,
        volume: this.volumes.get(peerId) ?? 1,
        onChange: (changed, kind, detail) => {
          if (this.links.get(changed.peerId) === changed) {
            this.emit("peer", { peerId: changed.peerId, kind, detail, state: changed.state });
          }
        },
      });
      this.links.set(peerId, link);
      this.emit("peer", { peerId, kind: "state", state: link.state });
    });
  }

  removePeer(peerId) {
    return this.enqueue(() => {
      if (this.closeLink(peerId)) {
        this.emit("peer", { peerId, kind: "removed", state: "closed" });
      }
    });
  }

  handleDescription(peerId, description) {
    return this.enqueue(async () => {
      const link = this.links.get(peerId);
      if (link) {
        await link.negotiator.handleDescription(description);
      }
    });
  }

  handleCandidate(peerId, candidate) {
    return this.enqueue(async () => {
      const link = this.links.get(peerId);
      if (link) {
        await link.negotiator.handleCandidate(candidate);
      }
    });
  }

  /** Uses `track` (or none: listen only) on every link, now and for links to come. */
  setLocalTrack(track, stream) {
    this.localTrack = track;
    this.localStream = stream;
    return this.enqueue(async () => {
      for (const link of this.links.values()) {
        await link.setLocalTrack(track, stream);
      }
    });
  }

  closeLink(peerId) {
    const link = this.links.get(peerId);
    if (!link) {
      return false;
    }
    link.close();
    this.links.delete(peerId);
    return true;
  }

  /** Closes every link (leaving, or before a resumed join renegotiates them all). */
  closeAll() {
    return this.enqueue(() => {
      for (const peerId of [...this.links.keys()]) {
        this.closeLink(peerId);
        this.emit("peer", { peerId, kind: "removed", state: "closed" });
      }
    });
  }

  get(peerId) {
    return this.links.get(peerId) || null;
  }

  /** Starts every remote <audio> again (after autoplay was blocked and the person clicked). */
  playAll() {
    for (const link of this.links.values()) {
      link.playAudio();
    }
  }
}
