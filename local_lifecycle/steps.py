"""Step runner of the lifecycle: progress per step, timings, and a failure that names the step."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


class StepFailed(RuntimeError):
    """A step failed; `log_tail` holds the end of what it printed, when it ran a process."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass
class StepResult:
    """Outcome of one step."""

    number: int
    title: str
    seconds: float
    details: dict[str, str] = field(default_factory=dict)


class StepRunner:
    """Runs numbered steps, printing `[n/N] title ...` and `ok (1.2s)` or the failure."""

    def __init__(self, total: int, *, stream: TextIO = sys.stdout) -> None:
        self.total = total
        self.results: list[StepResult] = []
        self._stream = stream

    def run(self, title: str, action: Callable[[], dict[str, str] | None]) -> dict[str, str]:
        """Run one step; re-raise its failure as `StepFailed` naming the step."""
        number = len(self.results) + 1
        print(f"[{number}/{self.total}] {title} ...", file=self._stream, flush=True)
        started = time.monotonic()
        try:
            details = action() or {}
        except StepFailed as error:
            raise StepFailed(f"step {number} '{title}' failed: {error}", log_tail=error.log_tail) from error
        except Exception as error:  # every failure must name its step
            raise StepFailed(f"step {number} '{title}' failed: {type(error).__name__}: {error}") from error
        seconds = time.monotonic() - started
        self.results.append(StepResult(number, title, seconds, details))
        summary = ", ".join(f"{k}={v}" for k, v in details.items())
        print(f"      ok ({seconds:.1f}s){'  ' + summary if summary else ''}", file=self._stream, flush=True)
        return details


def summary_table(results: list[StepResult], facts: dict[str, str]) -> str:
    """The closing table: each step with its time, then the run's key facts."""
    width = max([len(r.title) for r in results] + [len(k) for k in facts] + [10])
    lines = [f"{'step'.ljust(width)}  time", f"{'-' * width}  ------"]
    lines += [f"{r.title.ljust(width)}  {r.seconds:5.1f}s" for r in results]
    lines.append(f"{'total'.ljust(width)}  {sum(r.seconds for r in results):5.1f}s")
    lines += ["", f"{'fact'.ljust(width)}  value", f"{'-' * width}  ------"]
    lines += [f"{key.ljust(width)}  {value}" for key, value in facts.items()]
    return "\n".join(lines)
