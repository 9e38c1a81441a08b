"""What one template render may spend (its own CPU time, output and text built on the way), kept
per render in a context variable so that renders on many threads at once never share one.

Time is the render's thread CPU time, not wall-clock time: a worker runs many jobs in threads, and
a render waiting for the GIL must not be cut off for time it never had. Reading a thread's CPU
clock is a system call, so a tick only compares the (cheap) wall clock with a deadline; when the
deadline passes, the CPU clock is read once and the deadline moved on by the CPU time still left.
A render that never gets the CPU it needs is stopped at 20 times its bound of wall-clock time.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping, Set
from time import monotonic, thread_time  # module globals, so that tests can put other clocks in
from typing import Any

WALL_CLOCK_FACTOR = 20  # wall-clock time a render may take, in units of its CPU time bound
_TEXT, _SEQUENCES = (str, bytes), (list, tuple, Set)


class LimitExceeded(Exception):
    """A bound was hit. Not a LookupError or TypeError, which Jinja would swallow."""


class Starved(LimitExceeded):
    """The render hit the wall-clock cap before using its CPU time: the worker was too busy, and
    the same render may well succeed later."""


class Budget:
    """What one render may spend, and has spent."""

    __slots__ = ("max_seconds", "deadline", "cpu_start", "hard_deadline", "max_output", "max_work", "output", "work")

    def __init__(self, max_seconds: float, max_output: int) -> None:
        now, self.cpu_start = monotonic(), thread_time()
        self.max_seconds, self.deadline = max_seconds, now + max_seconds
        self.hard_deadline = now + WALL_CLOCK_FACTOR * max_seconds
        self.max_output, self.max_work, self.output, self.work = max_output, 16 * max_output, 0, 0

    def tick(self) -> None:
        """Called on each output chunk, loop iteration, call, filter and operator: keep it cheap."""
        if monotonic() > self.deadline:
            self._reckon()

    def _reckon(self) -> None:
        """The wall-clock deadline passed: refuse if the render used its CPU time, else wait for
        what is left (without passing the wall-clock cap)."""
        now, spent = monotonic(), thread_time() - self.cpu_start
        if spent >= self.max_seconds:
            raise LimitExceeded(f"rendering took longer than {self.max_seconds:g} s")
        if now >= self.hard_deadline:
            raise Starved(f"rendering took longer than {WALL_CLOCK_FACTOR * self.max_seconds:g} s of "
                                f"wall-clock time (it used {spent:.2g} s of CPU time: the worker was too busy)")
        self.deadline = min(now + self.max_seconds - spent, self.hard_deadline)

    def charge_output(self, size: int) -> None:
        self.output += size
        if self.output > self.max_output:
            raise LimitExceeded(f"the rendered message is larger than {self.max_output} characters")

    def charge_work(self, size: int) -> None:
        self.work += size
        if self.work > self.max_work:
            raise LimitExceeded(f"the template builds more than {self.max_work} characters of text")

    def expect(self, size: int, what: str) -> None:
        if size > self.max_work:
            raise LimitExceeded(f"{what} would build about {size} characters, more than {self.max_work}")

    def weigh(self, value: Any) -> int:
        """About ``len(str(value))``, counting a shared reference each time it occurs; gives up
        as soon as that passes the bound, so it is cheap even for a huge nested value."""
        total, seen, stack, limit = 0, 0, [value], self.max_work
        while stack:
            item = stack.pop()
            kind = type(item)  # exact types first: this loop may see a million items
            if kind is int or kind is bool:
                total += item.bit_length() // 3 + 1
            elif kind is str or isinstance(item, _TEXT):
                total += len(item) + 2
            elif kind is list or kind is tuple or isinstance(item, _SEQUENCES):
                total += 2 + 2 * len(item)
                stack.extend(item)
            elif isinstance(item, Mapping):
                total += 2 + 4 * len(item)
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                total += item.bit_length() // 3 + 1 if isinstance(item, int) else 8
            if total > limit:
                self.expect(total, "this value")
            seen += 1
            if not seen & 1023:
                self.tick()
        return total

    def produced(self, result: Any, inputs: Iterable[Any]) -> Any:
        """Pay for what a call, filter or operator made; handing back an input costs nothing."""
        if not any(result is item for item in inputs):
            if isinstance(result, str):
                self.charge_work(len(result))
            elif isinstance(result, Mapping | list | tuple | Set):
                self.weigh(result)
        return result


CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("hookhub_template_budget", default=None)


def current() -> Budget:
    """The budget of the render running in this context (a fresh default one outside a render)."""
    return CURRENT.get() or Budget(0.5, 256 * 1024)
