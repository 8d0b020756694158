"""A real Redis goes away under live sockets and comes back: nothing restarts.

The channel layer points at a redis-server of this test's own, which the test
stops and starts again on the same port.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import HttpCommunicator

from resilience.channel_layer import layer_dependency
from resilience.registry import dependencies_reset
from errors.tests.servers import RedisServer
from errors.testing import stored_events, stored_groups
from voicebot_site.asgi import application

CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


@pytest.fixture
def own_redis(settings: Any) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [server.url], "prefix": "voicebot-outage", "capacity": 100, "expiry": 60},
        }
    }
    settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD = 2
    settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT = 1.0
    dependencies_reset()
    try:
        yield server
    finally:
        server.stop()


async def http_get(path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver")])
    response = await communicator.get_response(timeout=10)
    headers = {k.decode(): v.decode() for k, v in response["headers"]}
    assert response["body"].startswith(b"{"), response
    return response["status"], json.loads(response["body"]), headers


async def test_redis_outage_answers_service_unavailable_and_recovers_by_itself(
    own_redis: RedisServer, joined_pair: Any
) -> None:
    lobby_id, a, b = joined_pair
    # Relays between two sockets of one process skip the channel layer; a
    # broadcast always goes through it. set_muted is one, and safe to repeat.
    await a.send({"type": "set_muted", "muted": True})
    assert (await b.receive_type("participant_updated"))["participant"]["muted"] is True
    assert (await a.receive_type("participant_updated"))["participant"]["muted"] is True
    own_redis.stop()

    # The first failures reach Redis and fail; they open the breaker.
    await a.send({"type": "set_muted", "id": "r1", "muted": False})
    first = await a.receive_type("error", timeout=10)
    assert first["code"] == "service_unavailable"
    assert (first["category"], first["recovery"], first["in_reply_to"]) == ("network", "retry", "r1")
    assert first["retry_after"] > 0
    await a.send({"type": "set_muted", "id": "r2", "muted": False})
    assert (await a.receive_type("error", timeout=10))["code"] == "service_unavailable"
    breaker = layer_dependency().breaker
    assert breaker.state == "open"

    # While open, a broadcast is refused at once, with the time left as retry_after.
    await a.send({"type": "set_muted", "id": "r3", "muted": False})
    refused = await a.receive_type("error")
    assert refused["code"] == "service_unavailable" and refused["in_reply_to"] == "r3"
    assert 0 < refused["retry_after"] <= 1.0
    # A relay inside this process still works: it needs no Redis.
    await a.send({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE})
    assert (await b.receive_type("ice_candidate"))["peer_id"] == a.session_id

    status, body, headers = await http_get("/readyz")
    assert status == 503
    assert body["checks"] == {"database": "ok", "channel_layer": "unavailable"}
    assert body["code"] == "service_unavailable" and body["recovery"] == "retry"
    assert "channel_layer=open" in headers["Circuit-Breakers"]
    assert (await http_get("/livez"))[0] == 200

    # Redis comes back empty on the same port. A client does what the error
    # told it: retries after retry_after. Within a bounded number of retries
    # the same sockets relay and broadcast again; nothing was restarted.
    own_redis.start()
    delivered = None
    for attempt in range(40):
        await asyncio.sleep(max(breaker.retry_after(), 0.25))
        await a.send({"type": "set_muted", "id": f"again-{attempt}", "muted": False})
        if not await b.communicator.receive_nothing(1.0):
            delivered = await b.receive_type("participant_updated")
            break
        answer = await a.receive_type("error")
        assert answer["code"] == "service_unavailable" and answer["retry_after"] > 0
    assert delivered is not None and delivered["participant"]["muted"] is False
    assert (await a.receive_type("participant_updated"))["participant"]["muted"] is False
    assert breaker.state == "closed"
    await a.send({"type": "chat", "text": "back again"})
    assert (await b.receive_type("chat", timeout=10))["text"] == "back again"
    assert (await a.receive_type("chat", timeout=10))["text"] == "back again"
    # readyz reports the breaker closed again. (Its channel-layer probe is
    # checked against a Redis with no live sockets in ops' own tests.)
    status, body, headers = await http_get("/readyz")
    assert "channel_layer=closed" in headers["Circuit-Breakers"]
    assert body["checks"]["database"] == "ok"
    assert not a.closed and not b.closed

    # What was stored: each refused relay, the breaker's opening, readyz's 503.
    refused_events = await stored_events(group__code="service_unavailable", where="set_muted")
    assert refused_events[0].correlation_id == first["correlation_id"]
    assert len(refused_events) >= 3
    assert {(e.lobby_id, e.session_id, e.group.category) for e in refused_events} == {
        (lobby_id, a.session_id, "network")
    }
    [refused_event] = [e for e in refused_events if e.correlation_id == refused["correlation_id"]]
    assert refused_event.context["breaker"] == "open"
    [opened] = await stored_groups(where="breaker.channel_layer")
    assert opened.count >= 1 and opened.severity == "high"
    assert len(await stored_events(where="readyz")) >= 1
    assert layer_dependency().breaker.opened_total >= 1
