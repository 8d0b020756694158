// Runs asynchronous tasks one after another, in the order they were pushed.
//
// Signaling frames must be applied to a peer connection in the order they
// arrived (a candidate must never race the description before it), but each
// step is asynchronous; this queue chains them. A failing task is reported
// and does not stop the tasks after it.

export class SerialQueue {
  constructor({ onError = () => {} } = {}) {
    this.tail = Promise.resolve();
    this.onError = onError;
    this.pending = 0;
  }

  /** Queues `task` (a function returning a value or a promise); resolves with its result. */
  push(task) {
    this.pending += 1;
    const run = this.tail.then(() => task());
    this.tail = run.then(
      () => { this.pending -= 1; },
      (error) => { this.pending -= 1; this.onError(error); },
    );
    return run;
  }

  /** Resolves once every task queued so far has finished. */
  idle() {
    return this.tail;
  }
}
