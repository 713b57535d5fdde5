"""Where the probe and the reporter read the time.

The system's clocks by default; a test hands them a clock it advances itself
(pyinstrument's fake-time pattern), so figures that depend on time have known
answers however loaded the machine is.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Clock:
    """Two readings: seconds since the epoch (when) and a monotonic count (how long)."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


SYSTEM = Clock()
