"""`bin/hamdam COMMAND` (`python -m gateway COMMAND`): the operator commands of gateway/cli/
with the settings `make run` last started with (VAR_DIR/run.json, then var/secrets.json for the
development secrets); a variable set in the environment takes precedence."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from flask.cli import FlaskGroup

from config.settings import ConfigError, Settings, command_environment
from gateway.app import create_app

HELP = """Hamdam's operator commands, with the settings `make run` last started with (its Redis,
directory file and routes, kept in VAR_DIR/run.json; development secrets from
VAR_DIR/secrets.json). A variable set in your environment takes precedence.

Run `hamdam COMMAND --help` for a command's options."""


def main(argv: list[str] | None = None) -> NoReturn:
    """Run one operator command and exit with its status."""
    environ, missing = command_environment(dict(os.environ))
    for name in missing:
        sys.stderr.write(f"hamdam: make run had {name} from its environment: set it here too\n")
    try:
        settings = Settings.from_env(environ)
    except ConfigError as error:
        sys.stderr.write(f"hamdam: configuration error: {error}\n")
        raise SystemExit(2) from None
    group = FlaskGroup(
        name="hamdam",
        help=HELP,
        create_app=lambda: create_app(settings),
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
    )
    # Flask's --app, --env-file and --debug choose another app or settings: not ours to offer.
    group.params = [p for p in group.params if p.name not in ("app", "env_file", "debug")]
    group.main(args=argv, prog_name="hamdam")
    raise SystemExit(0)  # not reached: click exits with the command's status


if __name__ == "__main__":
    main()
