"""The Channels and channels-redis releases the project's channel layers were tested with, checked at start."""
from __future__ import annotations

from importlib.metadata import version

from django.core.exceptions import ImproperlyConfigured

# The releases signaling.layers reuses the internals of, as the test suite ran them
# (Channels' layer contract and channels-redis's own tests/test_core.py).
TESTED_WITH = {"channels": "4.3.2", "channels-redis": "4.3.0"}


def layers_check_versions() -> None:
    """Refuse to start on a Channels or channels-redis these layers were not tested with."""
    for package, tested in TESTED_WITH.items():
        installed = version(package)
        if installed != tested:
            raise ImproperlyConfigured(
                f"{package} {installed} is installed, but VoiceBot's channel layers were tested with {tested}: "
                f"install {package}=={tested} (requirements.txt)."
            )
