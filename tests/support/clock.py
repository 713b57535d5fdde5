"""A clock a test advances itself (`doit_conductor.profiling.clock.Clock`)."""
from __future__ import annotations

from doit_conductor.profiling.clock import Clock


class FakeTime:
    """Time that moves only when the test says so."""

    def __init__(self, epoch: float = 1_700_000_000.0) -> None:
        self.epoch = epoch
        self.elapsed = 0.0

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds

    @property
    def clock(self) -> Clock:
        return Clock(wall=lambda: self.epoch + self.elapsed, monotonic=lambda: self.elapsed)
