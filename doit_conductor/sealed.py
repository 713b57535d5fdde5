"""A marshal document behind a checksummed header: the on-disk form of the
dependency DB, the no-op snapshot and template bytecode cache entries.

    MAGIC + xxh3_64(payload) as hex + b"\\n" + marshal(value)

marshal because these are read on every run and load in milliseconds; the
checksum is verified first, so damaged bytes never reach the decoder.  The
magic names the kind and its format version: a reader refuses any other.
"""
from __future__ import annotations

import marshal

import xxhash

from doit_conductor import gc_pause


class Unsealed(ValueError):
    """Bytes that are not an intact document of the expected kind (the message says why)."""


def seal(magic: bytes, value: object) -> bytes:
    payload = marshal.dumps(value)
    return magic + xxhash.xxh3_64_hexdigest(payload).encode() + b"\n" + payload


def unseal(magic: bytes, raw: bytes) -> object:
    """The value `seal(magic, value)` wrote into `raw`, or `Unsealed`."""
    header, newline, payload = raw.partition(b"\n")
    if not newline or not header.startswith(magic):
        raise Unsealed("not written by this version")
    if header[len(magic):] != xxhash.xxh3_64_hexdigest(payload).encode():
        raise Unsealed("checksum mismatch")
    try:
        with gc_pause.decoding(len(payload)):
            return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        raise Unsealed("undecodable") from None
