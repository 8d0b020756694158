// The local microphone: opening it, listing the devices, measuring its level.

import { rmsLevel } from "./speaking.js";

const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** An error for a browser that cannot open a microphone at all. */
function unavailableError() {
  const error = new Error("getUserMedia is not available");
  error.name = globalThis.isSecureContext === false ? "InsecureContextError" : "NotSupportedError";
  return error;
}

export class Microphone extends EventTarget {
  constructor() {
    super();
    this.stream = null;
    this.deviceId = "";
    this.audioContext = null;
    this.analyser = null;
    this.samples = null;
    if (navigator.mediaDevices && typeof navigator.mediaDevices.addEventListener === "function") {
      navigator.mediaDevices.addEventListener("devicechange", () => {
        this.dispatchEvent(new CustomEvent("devicechange"));
      });
    }
  }

  get track() {
    return this.stream ? this.stream.getAudioTracks()[0] || null : null;
  }

  /**
   * Opens the microphone `deviceId` (or the default one). Rejects with the
   * browser's DOMException (NotAllowedError, NotFoundError, …) or an error
   * named InsecureContextError / NotSupportedError.
   */
  async open(deviceId = "") {
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
      throw unavailableError();
    }
    const audio = deviceId ? { ...AUDIO_CONSTRAINTS, deviceId: { exact: deviceId } } : AUDIO_CONSTRAINTS;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
    } catch (error) {
      if (deviceId && error && (error.name === "OverconstrainedError" || error.name === "NotFoundError")) {
        // The remembered device is gone: take the default one instead.
        stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO_CONSTRAINTS, video: false });
      } else {
        throw error;
      }
    }
    const previous = this.stream;
    this.stream = stream;
    const track = this.track;
    this.deviceId = (track && track.getSettings && track.getSettings().deviceId) || deviceId || "";
    if (track) {
      track.addEventListener("ended", () => {
        if (this.track === track) {
          this.dispatchEvent(new CustomEvent("ended"));
        }
      });
    }
    if (previous) {
      previous.getTracks().forEach((t) => t.stop());
    }
    this.connectAnalyser();
    return stream;
  }

  /** The audio inputs the browser will name (labels appear once permission was given). */
  async inputs() {
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.enumerateDevices !== "function") {
      return [];
    }
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices
      .filter((device) => device.kind === "audioinput" && device.deviceId)
      .map((device, index) => ({ deviceId: device.deviceId, label: device.label || `Microphone ${index + 1}` }));
  }

  setMuted(muted) {
    const track = this.track;
    if (track) {
      track.enabled = !muted;
    }
  }

  connectAnalyser() {
    const AudioContextImpl = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AudioContextImpl || !this.stream) {
      return;
    }
    try {
      if (!this.audioContext) {
        this.audioContext = new AudioContextImpl();
      }
      if (this.source) {
        this.source.disconnect();
      }
      this.source = this.audioContext.createMediaStreamSource(this.stream);
      this.analyser = this.audioContext.createAnalyser();
      this.analyser.fftSize = 512;
      this.samples = new Float32Array(this.analyser.fftSize);
      this.source.connect(this.analyser);
    } catch {
      // No level meter; voice itself is unaffected.
      this.analyser = null;
    }
  }

  /** The current level of the local microphone (0 to 1); 0 when muted or closed. */
  level() {
    const track = this.track;
    if (!this.analyser || !track || !track.enabled) {
      return 0;
    }
    if (this.audioContext.state === "suspended") {
      this.audioContext.resume().catch(() => {});
    }
    this.analyser.getFloatTimeDomainData(this.samples);
    return rmsLevel(this.samples);
  }

  close() {
    if (this.stream) {
      this.stream.getTracks().forEach((track) => track.stop());
    }
    this.stream = null;
    if (this.source) {
      this.source.disconnect();
      this.source = null;
    }
    this.analyser = null;
  }
}
