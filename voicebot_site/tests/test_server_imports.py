"""A server process loads none of the bots' heavy dependencies: it never runs a model or a peer connection.

The openai SDK alone adds about 50 MB to a process and numpy 16 MB; a
deployment runs several server processes. Checked in a fresh interpreter
(this test process has everything loaded), after what a server loads: Django,
the ASGI application and the URLconf, with the admin.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

HEAVY = ("openai", "numpy", "aiortc", "av", "faster_whisper", "ctranslate2", "onnxruntime", "piper", "aiohttp")

LOADED = """
import json, sys
import django
django.setup()
import voicebot_site.asgi, voicebot_site.urls
from django.contrib import admin
admin.autodiscover()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_a_server_process_loads_no_model_sdk_numpy_or_webrtc() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voicebot_site.settings", "DEBUG": "1"}
    out = subprocess.run([sys.executable, "-c", LOADED], cwd=settings.BASE_DIR, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "django" in loaded and "channels" in loaded  # the check ran where it should
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
