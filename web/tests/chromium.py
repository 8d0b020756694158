"""Debian's Chromium as the browser tests launch it, and what they inject into pages."""
from __future__ import annotations

from web.tests.live_server import BASE_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Without it Chromium offers no 127.0.0.1 candidate.
    "--allow-loopback-in-peer-connection",
]
ARTIFACTS = BASE_DIR / "test-artifacts"

# Runs before the page's scripts: keeps every RTCPeerConnection and WebSocket
# the page makes, so that the tests can read their state and getStats() and
# drop a socket, without the client exposing anything for them.
INSTRUMENTATION = """
(() => {
  const record = { peerConnections: [], sockets: [] };
  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeerConnection {
    constructor(...args) { super(...args); record.peerConnections.push(this); }
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) { super(...args); record.sockets.push(this); }
  };
  Object.defineProperty(window, "__voicebotTest", { value: record });
})();
"""

# For a page that stands in for a sender that marks no audio levels in its packets (as many
# bots do): the audio-level header extension is taken out of every description it is given,
# so that neither side negotiates it and levels must come from the decoded audio.
WITHOUT_AUDIO_LEVELS = """
(() => {
  const strip = (description) => description && description.sdp
    ? { type: description.type, sdp: description.sdp.split("\\r\\n").filter((line) => !line.includes("ssrc-audio-level")).join("\\r\\n") }
    : description;
  const native = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (description, ...rest) {
    return native.call(this, strip(description), ...rest);
  };
})();
"""
