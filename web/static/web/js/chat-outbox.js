// The chat lines a person sent, delivered one at a time, in the order they were typed.
//
// A line goes to the server only once the one before it was answered: the
// server's copy of it (`chat` with `in_reply_to`) means it was stored and
// sent to everyone; an error says why not. So a line refused with
// `rate_limited` (or another error whose recovery is `retry`) is sent again
// after `retry_after` seconds while the lines after it wait behind it, and
// the lobby stores and shows them in the order they were sent. While the
// page is not in the lobby (reconnecting) lines wait; a line whose answer was
// lost with its socket is looked for in the history of the next `joined`,
// so that it is neither lost nor sent twice. A line refused for good (too
// long, say) is handed back with the reason and the others go on.

import { SerialQueue } from "./serial-queue.js";

export class ChatOutbox extends EventTarget {
  /** @param {{connection: {request: Function}, timers?: object, now?: () => number}} options */
  constructor({ connection, timers = globalThis, now = () => Date.now() }) {
    super();
    this.connection = connection;
    this.timers = timers;
    this.now = now;
    this.queue = new SerialQueue();
    this.lines = [];
    this.joined = false;
    this.selfId = null;
    this.wakers = [];
    // The newest of our own lines the page has seen (ms), and our lines that a join's
    // history showed newer than that: they are what the server stored while we were away.
    this.newestOwnMs = -Infinity;
    this.unseenOwn = [];
    this.waiting = null;
    this.generation = 0;
  }

  /** Lines typed but not delivered yet. */
  get pending() {
    return this.lines.length;
  }

  /** Queues `text`; resolves with the server's copy of it, or rejects with the error that refused it. */
  send(text) {
    const line = { text, generation: this.generation, maybeSent: false };
    this.lines.push(line);
    this.changed();
    return this.queue.push(() => this.deliver(line));
  }

  /** The page joined (again): lines go out; `chatHistory` shows which line in flight arrived. */
  joinedAs({ selfId, chatHistory = [] }) {
    this.selfId = selfId;
    const own = chatHistory.filter((message) => message.session_id === selfId);
    this.unseenOwn = own.filter((message) => timeOf(message) > this.newestOwnMs).map((message) => message.text);
    for (const message of own) {
      this.newestOwnMs = Math.max(this.newestOwnMs, timeOf(message));
    }
    this.joined = true;
    const wakers = this.wakers;
    this.wakers = [];
    wakers.forEach((wake) => wake());
  }

  /** The page is not in the lobby for now (its socket dropped): lines wait. */
  paused() {
    this.joined = false;
  }

  /** The person left: what was not delivered is dropped. */
  clear() {
    this.generation += 1;
    this.lines = [];
    this.joined = false;
    this.waiting = null;
    const wakers = this.wakers;
    this.wakers = [];
    wakers.forEach((wake) => wake());
    this.changed();
  }

  changed() {
    this.dispatchEvent(new CustomEvent("change", { detail: { pending: this.pending, waiting: this.waiting } }));
  }

  whenJoined() {
    return this.joined ? Promise.resolve() : new Promise((resolve) => this.wakers.push(resolve));
  }

  sleep(ms) {
    return new Promise((resolve) => this.timers.setTimeout(resolve, ms));
  }

  finish(line) {
    this.lines = this.lines.filter((other) => other !== line);
    this.changed();
  }

  /** Throws when the person left since `line` was typed. */
  stillWanted(line) {
    if (line.generation !== this.generation) {
      throw Object.assign(new Error("The message was dropped: you left the lobby."), { code: "cleared" });
    }
  }

  async deliver(line) {
    for (;;) {
      this.stillWanted(line);
      await this.whenJoined();
      this.stillWanted(line);
      if (line.maybeSent) {
        line.maybeSent = false;
        const seen = this.unseenOwn.indexOf(line.text);
        if (seen !== -1) {
          // Stored before the socket dropped: the server has it already.
          this.unseenOwn.splice(seen, 1);
          this.finish(line);
          return { type: "chat", session_id: this.selfId, text: line.text };
        }
      }
      line.maybeSent = true;
      let answer;
      try {
        // Sent again with the id it first had: the server stores a chat frame's id with the
        // line, so a line stored before its broadcast failed is not stored twice.
        answer = await this.connection.request({ type: "chat", text: line.text }, {
          timeoutMs: null, resendOf: line.frameId ?? null, onSent: (id) => { line.frameId = id; },
        });
      } catch (error) {
        this.stillWanted(line);
        if (error.code === "network_unreachable") {
          // The socket went before the answer came: the next join tells whether it arrived.
          this.joined = false;
          continue;
        }
        line.maybeSent = false;
        if (error.recovery === "retry") {
          const delayMs = Math.max(0, (typeof error.retry_after === "number" ? error.retry_after : 1) * 1000);
          this.waiting = { error, untilMs: this.now() + delayMs };
          this.changed();
          await this.sleep(delayMs);
          this.stillWanted(line);
          this.waiting = null;
          this.changed();
          continue;
        }
        if (error.recovery === "rejoin") {
          // not_joined: the page joins again, then the line goes.
          this.joined = false;
          continue;
        }
        this.finish(line);
        this.dispatchEvent(new CustomEvent("refused", { detail: { error, text: line.text } }));
        throw error;
      }
      this.stillWanted(line);
      this.newestOwnMs = Math.max(this.newestOwnMs, timeOf(answer));
      this.finish(line);
      return answer;
    }
  }
}

function timeOf(message) {
  const ms = Date.parse(message && message.ts);
  return Number.isNaN(ms) ? -Infinity : ms;
}
