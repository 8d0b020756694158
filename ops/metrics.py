"""Process metrics exposed at /metrics (Prometheus text format)."""
from prometheus_client import Counter, Gauge

WEBSOCKETS_OPEN = Gauge("voicebot_websockets_open", "WebSocket connections accepted and not yet closed.")
FRAMES_RELAYED = Counter("voicebot_frames_relayed_total", "Offers, answers and ICE candidates relayed to a peer.")
