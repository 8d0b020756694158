// The lobby WebSocket: frames in and out, heartbeats and reconnects.
//
// `LobbyConnection` opens `ws://HOST/ws/lobby/<id>/?token=…`, numbers the
// frames it sends (`id`), matches answers (`in_reply_to`) to requests, and
// reports every server frame in arrival order as a `frame` event and every
// error frame as a `servererror` event. When the socket drops without being
// asked to, it opens a new one after an exponential backoff with jitter,
// unless the close code says that cannot help (see closeAction); after close
// code 4001 it asks for a new session first. The page listens for `open` and
// joins (PROTOCOL.md's reconnect: a join with the same token resumes).

import { Backoff } from "./backoff.js";
import { closeAction } from "./error-messages.js";

/** An error frame, as an exception (for `request`). */
export class ProtocolError extends Error {
  constructor(frame) {
    super(frame.message || frame.code);
    this.name = "ProtocolError";
    Object.assign(this, frame);
    this.message = frame.message || frame.code;
  }
}

const SENT_FRAMES_KEPT = 200;

export class LobbyConnection extends EventTarget {
  /**
   * @param {object} options
   * @param {(reason: "connect"|"reconnect"|"reauthenticate") => Promise<string>} options.socketUrl
   *   the URL to open; on "reauthenticate" it must get a new session first.
   */
  constructor({
    socketUrl,
    WebSocketImpl = globalThis.WebSocket,
    backoff = new Backoff(),
    pingIntervalMs = 15000,
    pongTimeoutMs = 10000,
    timers = globalThis,
    // Frame ids are the server's idempotency keys (a chat frame resent with its
    // id is stored once): unique to this page, so that a reload never reuses one.
    idPrefix = `c${Math.random().toString(36).slice(2, 10)}-`,
  }) {
    super();
    this.socketUrl = socketUrl;
    this.WebSocketImpl = WebSocketImpl;
    this.backoff = backoff;
    this.pingIntervalMs = pingIntervalMs;
    this.pongTimeoutMs = pongTimeoutMs;
    this.timers = timers;
    this.socket = null;
    this.state = "idle";
    this.nextId = 0;
    this.idPrefix = idPrefix;
    this.sent = new Map();
    this.requests = new Map();
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pendingReason = null;
    this.finished = false;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, detail = {}) {
    this.state = state;
    this.emit("state", { state, ...detail });
  }

  /** Opens the first socket. */
  connect() {
    this.finished = false;
    return this.open("connect");
  }

  async open(reason) {
    this.clearRetry();
    this.setState("connecting", { reason });
    let url;
    try {
      url = await this.socketUrl(reason);
    } catch (error) {
      if (this.finished) {
        return;
      }
      // No session could be had (offline, rate limited): wait and try again.
      this.emit("connecterror", { error });
      const serverDelay = typeof error.retry_after === "number" ? error.retry_after * 1000 : 0;
      this.scheduleReconnect(reason === "reauthenticate" ? "reauthenticate" : "reconnect", Math.max(serverDelay, this.backoff.next()));
      return;
    }
    if (this.finished) {
      return;
    }
    const socket = new this.WebSocketImpl(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) {
        return;
      }
      this.setState("open", { reason });
      this.startHeartbeat();
      this.emit("open", { reason });
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) {
        this.receive(event.data);
      }
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) {
        this.dropped(event.code);
      }
    });
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      this.emit("protocolwarning", { text: "The server sent a frame that is not JSON; it was ignored." });
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") {
      this.emit("protocolwarning", { text: "The server sent a frame without a type; it was ignored." });
      return;
    }
    const replyTo = typeof frame.in_reply_to === "string" ? frame.in_reply_to : null;
    if (frame.type === "pong") {
      this.clearPongTimer();
      this.settle(replyTo, frame);
      return;
    }
    if (frame.type === "error") {
      const request = replyTo ? this.sent.get(replyTo) || null : null;
      this.settle(replyTo, frame);
      this.emit("servererror", { error: frame, request });
      return;
    }
    this.settle(replyTo, frame);
    this.emit("frame", { frame });
  }

  settle(replyTo, frame) {
    if (!replyTo || !this.requests.has(replyTo)) {
      return;
    }
    const { resolve, reject, timer } = this.requests.get(replyTo);
    this.requests.delete(replyTo);
    if (timer !== null) {
      this.timers.clearTimeout(timer);
    }
    if (frame.type === "error") {
      reject(new ProtocolError(frame));
    } else {
      resolve(frame);
    }
  }

  get isOpen() {
    return Boolean(this.socket) && this.socket.readyState === 1;
  }

  /**
   * Sends a frame with a new `id` (or, to resend a frame after `recovery: "retry"`, the `id` it
   * had: the server then does not do it twice); returns the id, or null when the socket is not open.
   */
  send(frame, { resendOf = null } = {}) {
    if (!this.isOpen) {
      return null;
    }
    let id = resendOf;
    if (id === null) {
      this.nextId += 1;
      id = `${this.idPrefix}${this.nextId}`;
    }
    const { id: _previous, ...fields } = frame;
    const numbered = { ...fields, id };
    this.sent.set(id, numbered);
    if (this.sent.size > SENT_FRAMES_KEPT) {
      this.sent.delete(this.sent.keys().next().value);
    }
    this.socket.send(JSON.stringify(numbered));
    return id;
  }

  /**
   * Sends a frame and resolves with its answer (rejects with ProtocolError on an error, or with
   * `network_unreachable` when the socket closes first). `timeoutMs: null` waits as long as the
   * socket lives (its heartbeat notices a dead one).
   */
  request(frame, { timeoutMs = 10000, resendOf = null, onSent = null } = {}) {
    return new Promise((resolve, reject) => {
      const id = this.send(frame, { resendOf });
      if (id !== null && onSent !== null) {
        onSent(id);
      }
      if (id === null) {
        reject(new ProtocolError({ code: "network_unreachable", recovery: "reconnect" }));
        return;
      }
      const timer = timeoutMs === null ? null : this.timers.setTimeout(() => {
        this.requests.delete(id);
        reject(new ProtocolError({ code: "network_unreachable", recovery: "reconnect" }));
      }, timeoutMs);
      this.requests.set(id, { resolve, reject, timer });
    });
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.pingTimer = this.timers.setInterval(() => {
      if (!this.isOpen || this.pongTimer !== null) {
        return;
      }
      this.send({ type: "ping" });
      this.pongTimer = this.timers.setTimeout(() => {
        this.pongTimer = null;
        // The socket looks open but nothing comes back: replace it.
        this.restart("reconnect");
      }, this.pongTimeoutMs);
    }, this.pingIntervalMs);
  }

  clearPongTimer() {
    if (this.pongTimer !== null) {
      this.timers.clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
  }

  stopHeartbeat() {
    if (this.pingTimer !== null) {
      this.timers.clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    this.clearPongTimer();
  }

  failRequests() {
    for (const [id, { reject, timer }] of this.requests) {
      if (timer !== null) {
        this.timers.clearTimeout(timer);
      }
      reject(new ProtocolError({ code: "network_unreachable", recovery: "reconnect" }));
      this.requests.delete(id);
    }
  }

  detachSocket() {
    const socket = this.socket;
    this.socket = null;
    this.stopHeartbeat();
    this.failRequests();
    return socket;
  }

  dropped(code) {
    this.detachSocket();
    if (this.finished) {
      this.setState("closed", { code });
      return;
    }
    const { action, code: errorCode } = closeAction(code);
    this.emit("drop", { code, action, errorCode });
    if (action === "stop") {
      this.finished = true;
      this.clearRetry();
      this.setState("stopped", { code, errorCode });
      return;
    }
    this.scheduleReconnect(action);
  }

  scheduleReconnect(reason, delayMs = this.backoff.next()) {
    this.clearRetry();
    this.pendingReason = reason;
    this.setState("waiting", { reason, delayMs, attempt: this.backoff.attempt });
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.open(reason);
    }, delayMs);
  }

  clearRetry() {
    if (this.retryTimer !== null) {
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  /** Skips the wait before the next attempt (the browser came back online, or the person asked). */
  reconnectNow() {
    if (this.state === "waiting" && !this.finished) {
      this.open(this.pendingReason || "reconnect");
    }
  }

  /** Replaces the socket: for recovery "reconnect"/"reauthenticate" and dead heartbeats. */
  restart(reason = "reconnect", { delayMs } = {}) {
    if (this.finished) {
      return;
    }
    const socket = this.detachSocket();
    if (socket) {
      try {
        socket.close(4000, "reconnecting");
      } catch {
        // Already closing.
      }
    }
    this.scheduleReconnect(reason, delayMs ?? this.backoff.next());
  }

  /** The socket did its job (joined): the next drop starts the backoff afresh. */
  markHealthy() {
    this.backoff.reset();
  }

  /** Closes for good, on purpose (leaving the page or the lobby). */
  close() {
    this.finished = true;
    this.clearRetry();
    const socket = this.detachSocket();
    if (socket) {
      try {
        socket.close(1000, "bye");
      } catch {
        // Already closing.
      }
    }
    this.setState("closed", { code: 1000 });
  }

  /** Opens again after `close()` or a final close code (the person asked to). */
  resume() {
    if (this.socket) {
      return;
    }
    this.finished = false;
    this.backoff.reset();
    this.open("reconnect");
  }
}
