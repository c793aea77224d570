"""The WSGI entry point gunicorn loads: ``fibsvc.wsgi:app``."""

import os

from fibsvc.app import create_app
from fibsvc.settings import Settings
from fibsvc.telemetry import sdk_disabled

app = create_app(Settings.from_env(os.environ), tracing=not sdk_disabled(os.environ))
