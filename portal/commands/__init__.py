"""`flask --app portal ...` commands, one module per area."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.commands import (
        accounts,
        attachments,
        demo,
        dump,
        imports,
        index,
        network,
        overlaps,
        similarity,
        worker,
    )

    for module in (
        accounts,
        attachments,
        demo,
        dump,
        imports,
        index,
        network,
        overlaps,
        similarity,
        worker,
    ):
        for command in module.COMMANDS:
            app.cli.add_command(command)
