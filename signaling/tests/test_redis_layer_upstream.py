"""channels-redis's own test suite (its ``tests/test_core.py``), run against ``RelayRedisChannelLayer``.

``make test`` fetches the file from channels-redis's sdist on PyPI (the
version pinned in requirements.txt) into ``var/upstream/``; it is never kept
in this repository. Its module is loaded as it is, with the layer class it
tests replaced by ours and its Redis hosts pointed at this run's Redis, and
its tests and fixtures are collected here.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from importlib.metadata import version
from types import ModuleType

import pytest
from django.conf import settings

from signaling.layers import RelayRedisChannelLayer

UPSTREAM = (
    settings.BASE_DIR / "var" / "upstream" / f"channels_redis-{version('channels-redis')}" / "tests" / "test_core.py"
)


def _upstream() -> ModuleType | None:
    if not UPSTREAM.exists():
        return None
    spec = importlib.util.spec_from_file_location("channels_redis_upstream_test_core", UPSTREAM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.RedisChannelLayer = RelayRedisChannelLayer  # type: ignore[attr-defined]
    return module


upstream = _upstream()
if upstream is None:
    if os.environ.get("CI"):
        raise RuntimeError(f"{UPSTREAM} is missing: make test fetches it (make {UPSTREAM.relative_to(settings.BASE_DIR)})")
    pytest.skip(f"{UPSTREAM} is missing (make test fetches it)", allow_module_level=True)

globals().update({name: value for name, value in vars(upstream).items() if name.startswith("test_")})
channel_layer = upstream.channel_layer
channel_layer_multiple_hosts = upstream.channel_layer_multiple_hosts


@pytest.fixture(autouse=True)
def upstream_hosts(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The suite's hosts (localhost:6379, databases 0 to 9) become this run's Redis."""
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    monkeypatch.setattr(upstream, "TEST_HOSTS", [redis_url])
    monkeypatch.setattr(upstream, "MULTIPLE_TEST_HOSTS", [f"{base}/{db}" for db in range(10)])
    yield


def test_the_upstream_suite_tests_our_layer() -> None:
    assert upstream.RedisChannelLayer is RelayRedisChannelLayer
    collected = [name for name in globals() if name.startswith("test_") and name != "test_the_upstream_suite_tests_our_layer"]
    assert len(collected) >= 20, collected
