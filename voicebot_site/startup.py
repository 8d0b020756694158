"""What a process must have before it serves: settings that the server cannot do without."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def serving_settings_check() -> None:
    """Raises ImproperlyConfigured, saying what to set, when this process must not serve."""
    if settings.VOICEBOT_SECRET_KEY_PROBLEM:
        raise ImproperlyConfigured(settings.VOICEBOT_SECRET_KEY_PROBLEM)
