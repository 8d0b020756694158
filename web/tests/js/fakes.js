// Test doubles shared by the client's unit tests: timers the test drives, and a socket whose other end is the test.

export const flush = async () => {
  for (let i = 0; i < 5; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** Timers driven by the test: nothing fires until `advance`. */
export class ManualTimers {
  constructor() {
    this.now = 0;
    this.nextId = 1;
    this.tasks = new Map();
  }

  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.tasks.set(id, { at: this.now + ms, fn, every: null });
    return id;
  }

  setInterval(fn, ms) {
    const id = this.nextId++;
    this.tasks.set(id, { at: this.now + ms, fn, every: ms });
    return id;
  }

  clearTimeout(id) {
    this.tasks.delete(id);
  }

  clearInterval(id) {
    this.tasks.delete(id);
  }

  pendingDelays() {
    return [...this.tasks.values()].filter((t) => t.every === null).map((t) => t.at - this.now);
  }

  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.tasks.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0];
      if (!due) {
        break;
      }
      const [id, task] = due;
      this.now = task.at;
      if (task.every === null) {
        this.tasks.delete(id);
      } else {
        task.at += task.every;
      }
      task.fn();
    }
    this.now = end;
  }
}

/** A WebSocket whose other end is the test. */
export class FakeSocket extends EventTarget {
  static opened = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.opened.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code) {
    this.closedWith = code;
    this.readyState = 3;
  }

  accept() {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }

  deliver(frame) {
    this.dispatchEvent(Object.assign(new Event("message"), { data: typeof frame === "string" ? frame : JSON.stringify(frame) }));
  }

  drop(code) {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event("close"), { code }));
  }
}
