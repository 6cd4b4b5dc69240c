"""What an import reports: rows new, updated, unchanged and skipped, and why rows failed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RowProblem:
    """A row left out of the import: where it is in the file and why."""

    line: int
    reason: str
    where: str = "line"

    def __str__(self) -> str:
        return f"{self.where} {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """The outcome of one run; `bid_ids` are the bids the file named that went in."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0
    bid_ids: list[int] = field(default_factory=list, repr=False)

    @property
    def written(self) -> int:
        return self.imported + self.updated + self.unchanged

    @property
    def rate(self) -> float:
        """Rows that went in (new, updated or unchanged) per second."""
        return self.written / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"Imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped} in {self.seconds:.1f} s ({self.rate:,.0f} bids/s)."
        )
