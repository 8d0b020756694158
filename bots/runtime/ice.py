"""Which host addresses a worker's WebRTC connections offer (``VOICEBOT_BOT_ICE_ADDRESSES``).

aioice (under aiortc) offers every address of the machine except loopback,
and takes no option to change that. Where browsers and workers share one host
that has nothing but loopback (a loopback-only network namespace, as the
tests run in), a bot would offer no candidate at all and its connections
would stay "new". So with the setting given, aioice's host address lookup is
replaced by the configured list: the one documented way aioice picks its
addresses, ``aioice.ice.get_host_addresses``.
"""
from __future__ import annotations

import aioice.ice


def ice_addresses_apply(addresses: list[str]) -> None:
    """Offer exactly ``addresses`` as host candidates (IPv4 or IPv6); empty keeps aioice's choice."""
    if not addresses:
        return
    chosen = list(addresses)

    def configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address for address in chosen if (":" in address and use_ipv6) or (":" not in address and use_ipv4)]

    aioice.ice.get_host_addresses = configured_host_addresses
