"""A network namespace with only loopback, for the browser tests.

WebRTC tests may send traffic to loopback only, but Chromium pairs ICE
candidates on every interface of the machine. So the calling thread moves
into a fresh network namespace whose only interface is ``lo``; every process
it starts (daphne, Playwright's driver, Chromium) inherits it, and media can
go nowhere but 127.0.0.1. Other threads of the process stay where they were,
which is what lets ``LoopbackBridge`` reach the host's Postgres and Redis.

Needs Linux and CAP_SYS_ADMIN (root), like ``unshare -n``.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
# struct ifreq: a 16-byte interface name, then a union of 24 bytes whose
# first member, for these requests, is the short of interface flags.
IFREQ = "16sh22x"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def unavailable_reason() -> str | None:
    """Why a namespace cannot be made here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "making a network namespace needs root (CAP_SYS_ADMIN), as in CI"
    return None


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code) or errno.errorcode.get(code, code)}")


@contextmanager
def loopback_only_namespace() -> Iterator[None]:
    """Runs the block (in this thread) inside a new namespace with only ``lo`` up."""
    libc = _libc()
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            _loopback_up()
            yield
        finally:
            _check(libc.setns(host, CLONE_NEWNET), "setns back to the host namespace")
    finally:
        os.close(host)


def interfaces() -> list[str]:
    """The names of the interfaces this thread's namespace has."""
    return [name for _, name in socket.if_nameindex()]
