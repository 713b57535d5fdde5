"""A reproducible wheel (PEP 427) built from bytes, and its install-free check.

Two builds from the same files are byte-identical: entries sorted (dist-info
last, RECORD at the very end), every timestamp 1980-01-01, every mode 0644,
one compression level.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
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
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _check_arcname(arcname: str, what: str, where: str | None = None) -> None:
    pure = PurePosixPath(arcname)
    if not arcname or pure.is_absolute() or ".." in pure.parts or "\\" in arcname:
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
