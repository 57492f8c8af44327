"""The counts each fault test leaves behind, printed as one table at the end of the run."""

from dataclasses import dataclass, field


@dataclass
class Counts:
    rows: list[dict] = field(default_factory=list)

    def add(self, fault: str, outcome, **extra) -> None:
        self.rows.append({"fault": fault, **outcome.counts(), **extra})

    def __bool__(self) -> bool:
        return bool(self.rows)

    def table(self) -> list[str]:
        columns = ["fault", "ops", "ok", "failed", "unknown", "checked", "lost", "duplicated", "unexpected"]
        extras = sorted({k for row in self.rows for k in row} - set(columns))
        header = columns + extras
        widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in self.rows)) for c in header}
        lines = ["  ".join(c.ljust(widths[c]) for c in header)]
        for row in self.rows:
            lines.append("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in header))
        return lines


COUNTS = Counts()
