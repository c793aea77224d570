"""``python -m fibsvc``: validate the configuration, then become the gunicorn master.

gunicorn parses WEB_CONCURRENCY while it is being imported and dies with a traceback
on a bad value, so the settings are checked before gunicorn is imported at all.
gunicorn then runs in this very process, so signals sent to it reach the master.
"""

import os
import sys
from pathlib import Path

from fibsvc.settings import ConfigError, ServerSettings, Settings

GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def main() -> None:
    """Start gunicorn with the project's gunicorn.conf.py, or exit 2 with one line."""
    try:
        Settings.from_env(os.environ)
        ServerSettings.from_env(os.environ)
    except ConfigError as error:
        sys.stderr.write(f"fibsvc: invalid configuration: {error}\n")
        sys.exit(2)
    from gunicorn.app.wsgiapp import run  # noqa: PLC0415 - only after WEB_CONCURRENCY is known good

    sys.argv = ["gunicorn", "--config", str(GUNICORN_CONFIG), "fibsvc.wsgi:app", *sys.argv[1:]]
    run()


if __name__ == "__main__":
    main()
