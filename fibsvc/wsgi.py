"""The WSGI entry point gunicorn loads: ``fibsvc.wsgi:app``."""

import os
from pathlib import Path

from fibsvc.app import create_app
from fibsvc.settings import RUNTIME_DIR_ENV, Settings
from fibsvc.telemetry import sdk_disabled

# gunicorn.conf.py makes the server's private runtime directory and names it here.
_runtime_dir = os.environ.get(RUNTIME_DIR_ENV)
app = create_app(
    Settings.from_env(os.environ),
    tracing=not sdk_disabled(os.environ),
    runtime_dir=Path(_runtime_dir) if _runtime_dir else None,
)
