"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from markupsafe import Markup

from bids.fields import LICENCE_URLS, LICENCES
from bids.markdown_render import render_markdown

CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def format_money(amount: Decimal | int | float | None, currency: str = "GBP") -> str:
    """£300,000 or 1,250.50 NOK; whole amounts lose their pence."""
    if amount is None:
        return "—"
    amount = Decimal(str(amount))
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%-d %B %Y")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%-d %B %Y, %H:%M UTC")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = lambda source: Markup(render_markdown(source))
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.globals["LICENCES"] = LICENCES
    app.jinja_env.globals["LICENCE_URLS"] = LICENCE_URLS
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
