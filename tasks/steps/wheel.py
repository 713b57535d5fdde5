"""A reproducible wheel (PEP 427) built from bytes, and its install-free check.

Two builds from the same files are byte-identical: entries sorted (dist-info
last, RECORD at the very end), every timestamp 1980-01-01, every mode 0644,
one compression level.  A member whose content a wheel built before (by this
module, with this zlib) already holds is copied from it compressed: deflating
every module at level 9 was most of a rebuild after a one-pattern edit, and
the same zlib deflates the same bytes to the same stream, so the archive is
byte for byte the one a build from nothing writes (`zipfile`'s,
`zip_with_zipfile`, kept for the tests and for archives near the ZIP64
limits).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from doit_conductor.errors import UserError

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
GENERATOR = "doit-conductor"


def distribution(name: str) -> str:
    """PEP 427 file-name form of a project name."""
    return re.sub(r"[-_.]+", "_", name)


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(name: str, version: str, files: dict[str, bytes], summary: str,
                requires_python: str = ">=3.10") -> bytes:
    """The wheel holding `files` (archive name -> content) and its metadata."""
    return archive(wheel_entries(name, version, files, summary, requires_python)).data


def wheel_entries(name: str, version: str, files: dict[str, bytes], summary: str,
                  requires_python: str = ">=3.10") -> list[tuple[str, bytes]]:
    """The wheel's members in archive order: `files`, then the dist-info."""
    dist_info = f"{distribution(name)}-{version}.dist-info"
    for arcname in files:
        _check_arcname(arcname, "package file")
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                f"Summary: {summary}\nRequires-Python: {requires_python}\n").encode()
    wheel = (f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\nRoot-Is-Purelib: true\n"
             "Tag: py3-none-any\n").encode()
    top_level = sorted({arcname.split("/")[0].removesuffix(".py") for arcname in files})
    entries = sorted(files.items()) + [
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel),
        (f"{dist_info}/top_level.txt", ("\n".join(top_level) + "\n").encode()),
    ]
    record = "".join(f"{arcname},{record_hash(data)},{len(data)}\n" for arcname, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    return entries


@dataclass(frozen=True, slots=True)
class Archive:
    """A ZIP archive's bytes, and how much of it had to be compressed anew."""

    data: bytes
    members: int
    compressed: int   # members deflated for it; the others were copied from `previous`


def archive(entries: list[tuple[str, bytes]], previous: bytes | None = None) -> Archive:
    """The ZIP archive `zipfile` writes for `entries` (`zip_with_zipfile`).
    `previous`: an archive this module wrote with this zlib (the caller vouches
    for that: another zlib may deflate differently); a member of it that holds
    an entry's bytes is copied rather than deflated again."""
    if len(entries) > _MAX_ENTRIES or sum(len(data) for _, data in entries) > _MAX_BYTES:
        return Archive(zip_with_zipfile(entries), len(entries), len(entries))  # near ZIP64
    known = _compressed_members(previous) if previous is not None else {}
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = compressed = 0
    for arcname, data in entries:
        crc = zlib.crc32(data)
        deflated = _reused(known.get((crc, len(data))), data)
        if deflated is None:
            deflated = _compress(data)
            compressed += 1
        try:
            name, flags = arcname.encode("ascii"), 0
        except UnicodeEncodeError:
            name, flags = arcname.encode("utf-8"), _UTF8_NAME
        fields = (flags, zipfile.ZIP_DEFLATED, _DOS_TIME, _DOS_DATE, crc, len(deflated),
                  len(data), len(name))
        parts += [_LOCAL.pack(b"PK\x03\x04", _VERSION, 0, *fields, 0), name, deflated]
        central += [_CENTRAL.pack(b"PK\x01\x02", _VERSION, _UNIX, _VERSION, 0, *fields,
                                  0, 0, 0, 0, FILE_MODE << 16, offset), name]
        offset += _LOCAL.size + len(name) + len(deflated)
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), offset, 0)
    return Archive(b"".join(parts) + directory + end, len(entries), compressed)


# zipfile's choices for the wheel's members, written out: version 2.0 to create
# and extract, Unix, deflated, 1980-01-01 00:00, no extra field or comment.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_VERSION = 20
_UNIX = 3
_DOS_TIME = 0
_DOS_DATE = (FIXED_TIME[0] - 1980) << 9 | FIXED_TIME[1] << 5 | FIXED_TIME[2]
_UTF8_NAME = 0x800
_MAX_ENTRIES = 0xFFFF
_MAX_BYTES = 1 << 30   # zipfile turns to ZIP64 near 2 GiB (a member or an offset)
LEVEL = 9


def _compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)   # raw deflate, as zipfile
    return compressor.compress(data) + compressor.flush()


def _reused(deflated: bytes | None, data: bytes) -> bytes | None:
    """`deflated` if it inflates to `data` (a tenth of the cost of deflating at
    level 9; a damaged or forged earlier archive then cannot put other bytes in
    this one)."""
    if deflated is None:
        return None
    try:
        return deflated if zlib.decompress(deflated, -15) == data else None
    except zlib.error:
        return None


def zip_with_zipfile(entries: list[tuple[str, bytes]]) -> bytes:
    """The archive of `entries` as `zipfile` writes it with the wheel's settings:
    what `build_wheel` must equal byte for byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = FILE_MODE << 16
            zipped.writestr(info, data, compresslevel=LEVEL)
    return buffer.getvalue()


def _compressed_members(previous: bytes) -> dict[tuple[int, int], bytes]:
    """(CRC, size) -> deflated bytes of the members of the archive `previous`;
    {} if it cannot be read as one."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(previous)).infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return {}
    known = {}
    view = memoryview(previous)
    for info in infos:
        if info.compress_type != zipfile.ZIP_DEFLATED:
            continue
        start = info.header_offset + _LOCAL.size   # the local header's lengths end it
        try:
            name_length, extra_length = struct.unpack_from("<2H", previous, start - 4)
        except struct.error:
            continue   # cut short: what it held is deflated again
        start += name_length + extra_length
        known[info.CRC, info.file_size] = bytes(view[start:start + info.compress_size])
    return known


def _check_arcname(arcname: str, what: str, where: str | None = None) -> None:
    pure = PurePosixPath(arcname)
    if not arcname or pure.is_absolute() or ".." in pure.parts or "\\" in arcname \
            or "\x00" in arcname:
        raise UserError(f"{what} '{arcname}' is not a safe relative path", where)


def read_wheel(data: bytes, where: str) -> dict[str, bytes]:
    """Open a wheel and check it against its RECORD: every file listed, every
    hash and size right, METADATA and WHEEL present.  Archive name -> content."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        files = {info.filename: archive.read(info) for info in archive.infolist()
                 if not info.is_dir()}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UserError(f"not a readable wheel: {exc}", where) from None
    for arcname in files:
        _check_arcname(arcname, "archive member", where)
    records = [n for n in files if re.fullmatch(r"[^/]+\.dist-info/RECORD", n)]
    if len(records) != 1:
        raise UserError(f"expected one *.dist-info/RECORD, found {len(records)}", where)
    dist_info = records[0].rsplit("/", 1)[0]
    for required in ("METADATA", "WHEEL"):
        if f"{dist_info}/{required}" not in files:
            raise UserError(f"{dist_info}/{required} is missing", where)
    listed: dict[str, tuple[str, str]] = {}
    for number, row in enumerate(csv.reader(io.StringIO(files[records[0]].decode())), 1):
        if len(row) != 3:
            raise UserError(f"RECORD line {number} has {len(row)} fields, not 3", where)
        listed[row[0]] = (row[1], row[2])
    for arcname, data_ in sorted(files.items()):
        if arcname not in listed:
            raise UserError(f"{arcname} is in the archive but not in RECORD", where)
        if arcname == records[0]:
            continue
        digest, size = listed[arcname]
        if digest != record_hash(data_) or size != str(len(data_)):
            raise UserError(f"{arcname} does not match its RECORD hash and size", where)
    missing = sorted(set(listed) - set(files))
    if missing:
        raise UserError(f"RECORD lists {missing[0]}, which is not in the archive", where)
    return files
