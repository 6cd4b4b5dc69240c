"""The UK's four nations and England's nine regions as a tile grid; other places as a list."""

from __future__ import annotations

from dataclasses import dataclass

# (name, row, column) on a 5 x 5 grid, roughly where each lies.
NATIONS = (("Scotland", 1, 2), ("Northern Ireland", 1, 1), ("England", 1, 4), ("Wales", 1, 3))
REGIONS = (
    ("North East", 1, 3),
    ("North West", 2, 2),
    ("Yorkshire and the Humber", 2, 3),
    ("West Midlands", 3, 2),
    ("East Midlands", 3, 3),
    ("East of England", 3, 4),
    ("South West", 4, 1),
    ("South East", 4, 3),
    ("London", 4, 2),
)
LEVELS = 5


@dataclass
class Tile:
    name: str
    bids: int
    row: int
    column: int
    level: int  # 0 (none) to LEVELS - 1 (most), for the shade; the count is always printed


def _level(n: int, most: int) -> int:
    if n <= 0 or most <= 0:
        return 0
    return max(1, min(LEVELS - 1, round(n / most * (LEVELS - 1))))


def place_tiles(locations: list[dict]) -> dict:
    counts = {loc["name"].strip().lower(): loc["bids"] for loc in locations}
    known = {name.lower() for name, _, _ in (*NATIONS, *REGIONS)}

    def tiles(layout) -> list[Tile]:
        most = max((counts.get(name.lower(), 0) for name, _, _ in layout), default=0)
        return [
            Tile(
                name,
                counts.get(name.lower(), 0),
                row,
                col,
                _level(counts.get(name.lower(), 0), most),
            )
            for name, row, col in layout
        ]

    return {
        "nations": tiles(NATIONS),
        "regions": tiles(REGIONS),
        "others": [loc for loc in locations if loc["name"].strip().lower() not in known],
    }
