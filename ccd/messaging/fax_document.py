"""A fax's document as Asterisk's SendFAX() reads it: a TIFF file in the spool directory.

A TIFF is copied in as it is; a PDF is converted with ghostscript when `gs` is installed
(G4-compressed TIFF at the fax "fine" resolution, 204x196 dpi, on pages 1728 pixels wide: the
width T.4 fixes for A4 and Letter). Files are named by a hash of the source's content, so the
thousand faxes of one mailing convert its document once, and a changed document is a new file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from ccd.log import get_logger

log = get_logger(__name__)

TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
PDF_MAGIC = b"%PDF-"
GS_TIMEOUT_S = 120.0
# 1728 x 2292 pixels at 204 x 196 dpi is an A4 page; -dPDFFitPage scales Letter (or any size)
# onto it, so every page has the width fax machines expect.
GS_ARGS = (
    "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=tiffg4", "-r204x196", "-g1728x2292",
    "-dFIXEDMEDIA", "-dPDFFitPage",
)  # fmt: skip


class DocumentError(ValueError):
    """The document cannot be faxed; the message names the file and says why."""


class FaxDocuments:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._locks: dict[str, asyncio.Lock] = {}

    def setup(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        if shutil.which("gs") is None:
            log.warning("fax.no_ghostscript", note="PDF documents fail; TIFFs are sent")

    async def prepare(self, source: Path) -> Path:
        """The spool file Asterisk sends for `source` (a TIFF or a PDF); DocumentError if
        the file cannot be read, is neither, or is a PDF and ghostscript is missing."""
        try:
            data = await asyncio.to_thread(source.read_bytes)
        except OSError as exc:
            raise DocumentError(f"document {source}: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()[:32]
        target = self.spool_dir / f"{digest}.tif"
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if target.exists():
                return target
            if data.startswith(TIFF_MAGIC):
                await asyncio.to_thread(self._write, target, data)
            elif data.startswith(PDF_MAGIC):
                await self._convert(source, target)
            else:
                raise DocumentError(f"document {source}: not a TIFF or PDF file")
        log.info("fax.document_ready", source=str(source), file=str(target))
        return target

    def _temp(self, target: Path) -> Path:
        return target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp")

    def _write(self, target: Path, data: bytes) -> None:
        tmp = self._temp(target)
        tmp.write_bytes(data)
        tmp.chmod(0o644)  # Asterisk's user reads it
        os.replace(tmp, target)

    async def _convert(self, source: Path, target: Path) -> None:
        gs = shutil.which("gs")
        if gs is None:
            raise DocumentError(
                f"document {source}: a PDF is converted to TIFF with ghostscript, and `gs` is"
                " not installed (install the ghostscript package, or give a TIFF)"
            )
        tmp = self._temp(target)
        proc = await asyncio.create_subprocess_exec(
            gs, *GS_ARGS, f"-sOutputFile={tmp}", "-f", str(source),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with asyncio.timeout(GS_TIMEOUT_S):
                output, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            tmp.unlink(missing_ok=True)
            raise DocumentError(
                f"document {source}: ghostscript took over {GS_TIMEOUT_S:.0f} s"
            ) from None
        if proc.returncode != 0 or not tmp.exists():
            tmp.unlink(missing_ok=True)
            said = output.decode(errors="replace").strip().splitlines()[-3:]
            raise DocumentError(
                f"document {source}: ghostscript could not convert it"
                f" (exit {proc.returncode}): {' / '.join(said) or 'no output'}"
            )
        with contextlib.suppress(OSError):
            tmp.chmod(0o644)
        os.replace(tmp, target)
