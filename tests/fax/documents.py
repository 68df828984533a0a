"""Fax documents for tests: small multi-page TIFFs written here, PDFs made by ghostscript."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

# ImageWidth, ImageLength, BitsPerSample, Compression (1: none), Photometric (0: white is 0),
# StripOffsets, RowsPerStrip, StripByteCounts: an 8 x 8 white page.
_TAGS = ((256, 8), (257, 8), (258, 1), (259, 1), (262, 0), (273, 0), (278, 8), (279, 8))


def write_tiff(path: Path, pages: int) -> Path:
    """A little-endian TIFF of `pages` blank bilevel pages."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        ifd_at = len(out)
        ifd_size = 2 + 12 * len(_TAGS) + 4
        strip_at = ifd_at + ifd_size
        out += struct.pack("<H", len(_TAGS))
        for tag, value in _TAGS:
            out += struct.pack("<HHII", tag, 4, 1, strip_at if tag == 273 else value)
        out += struct.pack("<I", strip_at + 8 if page < pages - 1 else 0)
        out += bytes(8)
    path.write_bytes(bytes(out))
    return path


def first_page_tags(path: Path) -> dict[int, int]:
    """Tag -> first value of the first IFD (SHORT and LONG values, little-endian files)."""
    data = path.read_bytes()
    assert data[:4] == b"II*\x00", "not a little-endian TIFF"
    (offset,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, offset)
    tags = {}
    for i in range(count):
        tag, kind, _n, raw = struct.unpack_from("<HHI4s", data, offset + 2 + 12 * i)
        fmt = "<H" if kind == 3 else "<I"
        tags[tag] = struct.unpack_from(fmt, raw)[0]
    return tags


def write_pdf(path: Path, pages: int) -> Path:
    """A PDF of `pages` text pages, made with ghostscript from PostScript."""
    gs = shutil.which("gs")
    assert gs, "ghostscript (gs) is needed: .ci/run installs it (apt install ghostscript)"
    ps = path.with_suffix(".ps")
    body = "".join(f"72 700 moveto (Page {n + 1}) show showpage\n" for n in range(pages))
    ps.write_text(f"%!PS\n/Helvetica findfont 24 scalefont setfont\n{body}")
    subprocess.run(
        [gs, "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite",
         f"-sOutputFile={path}", str(ps)],
        check=True,
    )  # fmt: skip
    return path
