"""Reading a file's bytes as text, and the error that says why a file cannot be ingested."""

from __future__ import annotations

import codecs
from pathlib import Path


class LoadError(Exception):
    """A file that cannot be ingested, with the reason in words a staff member can act on."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def relative(path: Path, root: Path) -> str:
    if root.is_file() or path == root:
        return path.name
    return path.relative_to(root).as_posix()


# UTF-32's marks begin with UTF-16's, so they are tried first.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(path: Path, data: bytes) -> str:
    """By its byte-order mark (Excel's "Unicode text" is UTF-16), else UTF-8, else GB18030 (GBK's superset)."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(path, _mixed(encoding, exc)) from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError(path, "text is neither UTF-8/16/32 nor GBK/GB18030")


def _mixed(encoding: str, exc: UnicodeDecodeError) -> str:
    """A file whose byte-order mark says one encoding and whose text is in another (a GBK file behind a UTF-8 mark)."""
    name = encoding.removesuffix("-sig").upper()
    line = exc.object[: exc.start].decode(encoding, errors="replace").count("\n") + 1
    return (
        f"starts with a {name} byte-order mark but is not {name} from line {line} on "
        f"(byte 0x{exc.object[exc.start]:02x}): save it again as UTF-8"
    )


OLE_HEADER = bytes.fromhex("d0cf11e0a1b11ae1")
# Stream names inside an OLE container (UTF-16 in its directory): which kind of old-format file it is.
_OLE_KINDS = (
    ("EncryptedPackage", None),
    ("WordDocument", "a Word 97-2003 .doc"),
    ("Workbook", "an Excel 97-2003 .xls"),
    ("Book", "an Excel 95 .xls"),
)


def office_container_reason(path: Path) -> str | None:
    """Why a .docx/.xlsx that is an OLE container, not a zip, cannot be read: password-protected (the encrypted
    package), or an old binary .doc/.xls saved under the new name; None when it is not such a container."""
    data = path.read_bytes()
    if not data.startswith(OLE_HEADER):
        return None
    found = next((kind for name, kind in _OLE_KINDS if name.encode("utf-16-le") in data), "an old-format Office")
    if found is None:
        return "password-protected; save an unprotected copy"
    return f"{found} file with a {path.suffix} name: open it and save it as {path.suffix}"


class NotUTF8(UnicodeDecodeError):
    """A staff file that must be UTF-8 and is not, said with the line of the first bad byte and what to do."""

    def __str__(self) -> str:
        line = self.object[: self.start].count(b"\n") + 1
        return f"not UTF-8 text (byte 0x{self.object[self.start]:02x} on line {line}): save the file as UTF-8"


def read_utf8(path: Path) -> str:
    """A settings-like file's text (YAML staff edit); `NotUTF8` when it was saved in another encoding (GBK)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUTF8(exc.encoding, exc.object, exc.start, exc.end, exc.reason) from None
