"""`flask --app portal ...` commands, one module per area."""

from __future__ import annotations

import importlib

from flask import Flask

# Each module exposes COMMANDS, the click commands and groups it adds to `flask --app portal`.
MODULES = (
    "accounts",
    "attachments",
    "demo",
    "dump",
    "imports",
    "index",
    "network",
    "overlaps",
    "similarity",
    "worker",
)


def init_app(app: Flask) -> None:
    for name in MODULES:
        module = importlib.import_module(f"portal.commands.{name}")
        for command in module.COMMANDS:
            app.cli.add_command(command)
