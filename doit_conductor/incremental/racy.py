"""How recent a write must be for a file's stat to possibly miss the next one.

A write sets a file's mtime and ctime to the kernel's clock as the file
system records it.  A second write leaves the stat as the first one left it
only if it lands within the file system's timestamp granularity of the first.

* Local Linux file systems (`FINE_GRAINED`) stamp in nanoseconds from a clock
  that ticks every 1-10 ms, so `FINE_NS`, 50 ms, is the window for a file on
  one of them.
* FAT stamps in 2 s steps, and network file systems take the server's clock.
  Any device not known to be fine-grained gets `COARSE_NS`, 2.5 s: a device
  missing from /proc/self/mountinfo, any system without that file, a btrfs
  subvolume's own device number.

Which devices are fine-grained comes from /proc/self/mountinfo (the device
numbers st_dev reports, and each mount's file system type).
"""
from __future__ import annotations

import functools
import os

FINE_NS = 50_000_000
COARSE_NS = 2_500_000_000
FINE_GRAINED = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs",
                          "bcachefs"})


def fine_devices_in(mountinfo: str) -> frozenset[int]:
    """st_dev numbers of the mounts in `mountinfo` whose file system is fine-grained.

    A line is `id parent major:minor root mount-point options [tags] - type source
    super-options` (proc(5))."""
    found = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            kind = fields[fields.index("-") + 1]
            major, minor = fields[2].split(":")
            device = os.makedev(int(major), int(minor))
        except (ValueError, IndexError):
            continue
        if kind in FINE_GRAINED:
            found.add(device)
    return frozenset(found)


@functools.cache
def fine_devices() -> frozenset[int]:
    """This system's fine-grained devices (none known: every window is coarse)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            return fine_devices_in(handle.read())
    except OSError:
        return frozenset()


def window_ns(device: int, fine: frozenset[int]) -> int:
    return FINE_NS if device in fine else COARSE_NS
