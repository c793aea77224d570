"""The WSGI entry point gunicorn loads: ``fibsvc.wsgi:app``."""

import os

from fibsvc.app import create_app
from fibsvc.settings import Settings

app = create_app(Settings.from_env(os.environ))
