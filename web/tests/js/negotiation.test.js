import assert from "node:assert/strict";
import { test } from "node:test";

import { collisionDecision, IceRestartPolicy, PerfectNegotiator } from "../../static/web/js/negotiation.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The signaling state machine of RTCPeerConnection (JSEP), without media:
 * stable -> have-local-offer -> stable (answer applied), stable ->
 * have-remote-offer -> stable (answer made), and rollback. Like a browser
 * without implicit rollback, applying an offer in have-local-offer fails, so
 * the tests prove the negotiator rolls back itself.
 */
class SignalingModel extends EventTarget {
  constructor(label) {
    super();
    this.label = label;
    this.signalingState = "stable";
    this.localDescription = null;
    this.remoteDescription = null;
    this.offers = 0;
    this.candidates = [];
  }

  async setLocalDescription(description) {
    await tick();
    if (description && description.type === "rollback") {
      if (this.signalingState !== "have-local-offer") {
        throw Object.assign(new Error("nothing to roll back"), { name: "InvalidStateError" });
      }
      this.signalingState = "stable";
      this.localDescription = null;
      return;
    }
    if (this.signalingState === "stable" || this.signalingState === "have-local-offer") {
      this.offers += 1;
      this.localDescription = { type: "offer", sdp: `v=0 ${this.label} offer ${this.offers}` };
      this.signalingState = "have-local-offer";
    } else if (this.signalingState === "have-remote-offer") {
      this.localDescription = { type: "answer", sdp: `v=0 ${this.label} answer` };
      this.signalingState = "stable";
    }
  }

  async setRemoteDescription(description) {
    await tick();
    if (description.type === "offer" && !["stable", "have-remote-offer"].includes(this.signalingState)) {
      throw Object.assign(new Error(`offer in ${this.signalingState}`), { name: "InvalidStateError" });
    }
    if (description.type === "answer" && this.signalingState !== "have-local-offer") {
      throw Object.assign(new Error(`answer in ${this.signalingState}`), { name: "InvalidStateError" });
    }
    this.remoteDescription = description;
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
  }

  async addIceCandidate(candidate) {
    await tick();
    if (!this.remoteDescription) {
      throw Object.assign(new Error("no remote description"), { name: "InvalidStateError" });
    }
    if (candidate.usernameFragment === "stale") {
      throw Object.assign(new Error("unknown ufrag"), { name: "OperationError" });
    }
    this.candidates.push(candidate);
  }

  needNegotiation() {
    this.dispatchEvent(new Event("negotiationneeded"));
  }
}

/** Two negotiators joined by an in-order message channel, like two pages and the server. */
function pair({ aOffersFirst = true, bOffersFirst = false } = {}) {
  const sides = {};
  const log = [];
  const errors = [];
  const deliver = (to) => {
    let chain = Promise.resolve();
    return (kind, payload) => {
      log.push(`${to === "a" ? "b" : "a"}->${to} ${kind}${kind === "description" ? ` ${payload.type}` : ""}`);
      chain = chain.then(async () => {
        await tick();
        const target = sides[to];
        try {
          if (kind === "description") {
            log.push(`${to} ${await target.handleDescription(payload)}`);
          } else {
            await target.handleCandidate(payload);
          }
        } catch (error) {
          errors.push(error);
        }
      });
      sides[`${to}Idle`] = () => chain;
    };
  };
  const toA = deliver("a");
  const toB = deliver("b");
  const pcA = new SignalingModel("a");
  const pcB = new SignalingModel("b");
  sides.a = new PerfectNegotiator({
    pc: pcA, polite: false, offerFirst: aOffersFirst,
    sendDescription: (d) => toB("description", d), sendCandidate: (c) => toB("candidate", c),
    onError: (error) => errors.push(error),
  });
  sides.b = new PerfectNegotiator({
    pc: pcB, polite: true, offerFirst: bOffersFirst,
    sendDescription: (d) => toA("description", d), sendCandidate: (c) => toA("candidate", c),
    onError: (error) => errors.push(error),
  });
  sides.aIdle = () => Promise.resolve();
  sides.bIdle = () => Promise.resolve();
  const settle = async () => {
    for (let i = 0; i < 20; i += 1) {
      await tick();
      await sides.aIdle();
      await sides.bIdle();
    }
  };
  return { pcA, pcB, a: sides.a, b: sides.b, log, errors, settle };
}

test("an offer collides unless the side is stable (or applying an answer) and not offering", () => {
  const base = { descriptionType: "offer", makingOffer: false, signalingState: "stable", settingRemoteAnswer: false };
  assert.deepEqual(collisionDecision({ ...base, polite: false }), { collision: false, ignore: false, rollback: false });
  assert.deepEqual(collisionDecision({ ...base, polite: false, makingOffer: true }), { collision: true, ignore: true, rollback: false });
  assert.deepEqual(
    collisionDecision({ ...base, polite: true, signalingState: "have-local-offer" }),
    { collision: true, ignore: false, rollback: true },
  );
  assert.equal(collisionDecision({ ...base, polite: true, signalingState: "have-local-offer", settingRemoteAnswer: true }).collision, false);
  assert.equal(collisionDecision({ ...base, polite: true, signalingState: "stable", settingRemoteAnswer: true }).collision, false);
  assert.equal(collisionDecision({ ...base, descriptionType: "answer", polite: false, makingOffer: true }).collision, false);
});

test("the offering side offers, the other answers, and both end stable", async () => {
  const { pcA, pcB, log, errors, settle } = pair();
  pcA.needNegotiation();
  await settle();
  assert.deepEqual(errors, []);
  assert.deepEqual(log, ["a->b description offer", "b->a description answer", "b answered", "a applied"]);
  assert.equal(pcA.signalingState, "stable");
  assert.equal(pcB.signalingState, "stable");
  assert.equal(pcB.remoteDescription.sdp, "v=0 a offer 1");
});

test("the waiting side makes no offer of its own before the first exchange", async () => {
  const { pcA, pcB, log, settle } = pair();
  pcB.needNegotiation();
  await settle();
  assert.deepEqual(log, []);
  assert.equal(pcB.offers, 0);
  pcA.needNegotiation();
  await settle();
  // After answering once, it may renegotiate (a new microphone, an ICE restart).
  pcB.needNegotiation();
  await settle();
  assert.equal(pcB.offers, 1);
  assert.deepEqual(log.slice(-4), ["b->a description offer", "a->b description answer", "a answered", "b applied"]);
});

test("glare: the impolite side ignores the crossing offer, the polite side rolls back and answers", async () => {
  const { pcA, pcB, log, errors, settle } = pair({ aOffersFirst: true, bOffersFirst: true });
  pcA.needNegotiation();
  pcB.needNegotiation();
  await settle();
  assert.deepEqual(errors, []);
  assert.ok(log.includes("a ignored"), log.join("\n"));
  assert.ok(log.includes("b answered"), log.join("\n"));
  assert.equal(pcA.signalingState, "stable");
  assert.equal(pcB.signalingState, "stable");
  assert.equal(pcB.remoteDescription.sdp, "v=0 a offer 1", "the impolite side's offer won");
  assert.equal(pcA.remoteDescription.type, "answer");
});

test("candidates that arrive before the remote description are held, then added in order", async () => {
  const pc = new SignalingModel("x");
  const negotiator = new PerfectNegotiator({
    pc, polite: true, offerFirst: false, sendDescription: () => {}, sendCandidate: () => {},
  });
  await negotiator.handleCandidate({ candidate: "candidate:1" });
  await negotiator.handleCandidate({ candidate: "candidate:2" });
  assert.deepEqual(pc.candidates, []);
  await negotiator.handleDescription({ type: "offer", sdp: "v=0 remote" });
  await negotiator.handleCandidate({ candidate: "candidate:3" });
  assert.deepEqual(pc.candidates.map((c) => c.candidate), ["candidate:1", "candidate:2", "candidate:3"]);
});

test("a failing candidate is an error, unless it belongs to an offer that was ignored", async () => {
  const pc = new SignalingModel("x");
  const negotiator = new PerfectNegotiator({
    pc, polite: false, offerFirst: true, sendDescription: () => {}, sendCandidate: () => {},
  });
  await negotiator.handleDescription({ type: "offer", sdp: "v=0 remote" });
  await assert.rejects(negotiator.handleCandidate({ candidate: "c", usernameFragment: "stale" }), { name: "OperationError" });
  pc.needNegotiation();
  negotiator.makingOffer = true;
  assert.equal(await negotiator.handleDescription({ type: "offer", sdp: "v=0 crossing" }), "ignored");
  await negotiator.handleCandidate({ candidate: "c", usernameFragment: "stale" });
});

test("local candidates are sent as plain objects; the end-of-candidates marker is not", () => {
  const pc = new SignalingModel("x");
  const sent = [];
  new PerfectNegotiator({ pc, polite: true, offerFirst: false, sendDescription: () => {}, sendCandidate: (c) => sent.push(c) });
  const fire = (candidate) => pc.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate }));
  fire({ candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", toJSON() { return { candidate: this.candidate, sdpMid: "0" }; } });
  fire({ candidate: "" });
  fire(null);
  assert.deepEqual(sent, [{ candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0" }]);
});

test("a failed connection restarts ICE once, then gives up until it is up again", () => {
  const policy = new IceRestartPolicy();
  assert.equal(policy.onState("connecting"), null);
  assert.equal(policy.onState("connected"), null);
  assert.equal(policy.onState("disconnected"), null);
  assert.equal(policy.onState("failed"), "restart");
  assert.equal(policy.onState("connecting"), null);
  assert.equal(policy.onState("failed"), "give-up");
  assert.equal(policy.onState("failed"), "give-up");
  assert.equal(policy.onState("connected"), null);
  assert.equal(policy.onState("failed"), "restart", "a new failure after recovering gets its own restart");
});
