// The room's status pill: one label from the socket's state and where the page is with joining.

/**
 * @param {object} status
 * @param {string} status.socket  LobbyConnection's state: idle, connecting, open, waiting, stopped, closed
 * @param {boolean} status.joined  in the lobby
 * @param {boolean} status.joining  a join was sent and not answered yet
 * @param {boolean} status.wantJoined  the person asked to be in the lobby
 * @param {number|null} status.seatPosition  the place in the queue for a seat, while waiting for one
 * @param {number|null} status.reconnectMs  the wait before the next socket, while the socket is down
 * @returns {{state: string, text: string}}  `state` is the pill's data-state
 */
export function roomStatus({ socket, joined, joining, wantJoined, seatPosition = null, reconnectMs = null }) {
  if (socket === "waiting" && wantJoined) {
    const seconds = Math.max(1, Math.round((reconnectMs ?? 0) / 1000));
    return { state: "waiting", text: `Reconnecting in ${seconds} s…` };
  }
  if (socket === "stopped") {
    return { state: "stopped", text: "Disconnected" };
  }
  if (joined && socket === "open") {
    return { state: "joined", text: "Connected" };
  }
  if (wantJoined && seatPosition !== null) {
    return { state: "queued", text: seatPosition === 1 ? "Waiting for a seat: next in line" : `Waiting for a seat: number ${seatPosition} in line` };
  }
  if (wantJoined && (joining || socket === "connecting" || socket === "open")) {
    return { state: "connecting", text: socket === "connecting" ? "Connecting…" : "Joining…" };
  }
  return { state: "idle", text: "Not joined yet" };
}
