// Whether someone is speaking, from a stream of audio levels (0 to 1).
//
// A level above `onLevel` starts speech at once; speech ends only after the
// level stays below `offLevel` for `holdMs`, so that the indicator does not
// flicker between words.

export class SpeakingDetector {
  constructor({ onLevel = 0.04, offLevel = 0.02, holdMs = 400 } = {}) {
    if (!(offLevel <= onLevel)) {
      throw new RangeError("SpeakingDetector needs offLevel <= onLevel.");
    }
    this.onLevel = onLevel;
    this.offLevel = offLevel;
    this.holdMs = holdMs;
    this.speaking = false;
    this.quietSince = null;
  }

  /** Feeds one level measured at `nowMs`; returns whether the person is speaking. */
  update(level, nowMs) {
    const value = Number.isFinite(level) ? level : 0;
    if (value >= this.onLevel) {
      this.speaking = true;
      this.quietSince = null;
    } else if (this.speaking && value < this.offLevel) {
      if (this.quietSince === null) {
        this.quietSince = nowMs;
      } else if (nowMs - this.quietSince >= this.holdMs) {
        this.speaking = false;
        this.quietSince = null;
      }
    } else if (this.speaking) {
      this.quietSince = null;
    }
    return this.speaking;
  }
}

/** The root mean square of time-domain samples in [-1, 1]. */
export function rmsLevel(samples) {
  if (!samples || samples.length === 0) {
    return 0;
  }
  let sum = 0;
  for (const sample of samples) {
    sum += sample * sample;
  }
  return Math.sqrt(sum / samples.length);
}

/** Whether a bot says it is speaking (its `bot.state`), whatever its audio level shows. */
export function botIsSpeaking(participant) {
  return Boolean(participant && participant.is_bot && participant.bot && participant.bot.state === "speaking");
}

/**
 * The level (0 to 1) of the audio received between two `inbound-rtp` stats reports, from their
 * `totalAudioEnergy` and `totalSamplesDuration`: what a browser measured of the decoded sound,
 * for senders that do not mark levels in their packets (many bots).
 */
export function levelFromStats(previous, current) {
  if (!previous || !current) {
    return 0;
  }
  const energy = current.totalAudioEnergy - previous.totalAudioEnergy;
  const duration = current.totalSamplesDuration - previous.totalSamplesDuration;
  if (!(duration > 0) || !(energy >= 0)) {
    return 0;
  }
  return Math.min(1, Math.sqrt(energy / duration));
}
