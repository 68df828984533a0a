"""SendFAX() as res_fax runs it, for the double's `ccd-fax` context.

What the channel shows of it: res_fax's set_channel_variables() sets FAXSTATUS, FAXERROR,
FAXSTATUSSTRING, REMOTESTATIONID, LOCALSTATIONID, FAXBITRATE, FAXRESOLUTION, FAXMODE and
FAXPAGES in that order (a NULL value sets nothing, so a good fax has no FAXERROR), each a
ChannelVarset for a channel the app is subscribed to; then the dialplan's Hangup() ends the
call, cause 16. A file it cannot read fails before any transfer: FAXERROR=FILE_ERROR,
FAXSTATUSSTRING, FAXSTATUS only, and SendFAX returns -1 (the call is hung up). A far end that
hangs up mid-transfer leaves FAXERROR=HANGUP "remote channel hungup". A far end that is no fax
machine never answers the T.30 handshake: spandsp gives up when T0 expires (60 s).

The document is read as Asterisk reads it: from CCD_FAX_FILE on this machine; its pages are
the TIFF's images (IFDs).

No fax call is among the Asterisk 22 recordings (tests/fixtures/asterisk-22): this follows
res_fax's documented variables (SendFAX in asterisk-22-docs.xml) and its source, and the
recorded fact that an app-originated channel continued into the dialplan still sends
ChannelVarset and ChannelDestroyed (14b). Record one when a fax line is at hand.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ccd.sim.asterisk.farend import FarEnd

FAX_CONTEXT = "ccd-fax"
FILE_VAR = "CCD_FAX_FILE"
TRAINING_S = 6.0  # V.21 handshake and training before the first page
PAGE_S = 9.0  # one A4 page at 14 400 bit/s, fine resolution
T0_S = 60.0
REMOTE_STATION = "+1 555 0100"


@dataclass(frozen=True, slots=True)
class FaxRun:
    """How one SendFAX() on a far end ends: after `seconds`, these variables in order;
    `fail_hangup`: SendFAX returned -1 (a file error), the call is hung up."""

    seconds: float
    variables: list[tuple[str, str]]
    fail_hangup: bool = False


def tiff_pages(path: Path) -> int:
    """The images of a TIFF file (its chain of IFDs); ValueError when it is not one."""
    data = path.read_bytes()
    if data[:4] == b"II*\x00":
        order = "<"
    elif data[:4] == b"MM\x00*":
        order = ">"
    else:
        raise ValueError("not a TIFF file")
    (offset,) = struct.unpack_from(order + "I", data, 4)
    pages = 0
    seen: set[int] = set()
    while offset:
        if offset in seen or offset + 2 > len(data):
            raise ValueError("broken IFD chain")
        seen.add(offset)
        (entries,) = struct.unpack_from(order + "H", data, offset)
        end = offset + 2 + 12 * entries
        if end + 4 > len(data):
            raise ValueError("broken IFD chain")
        pages += 1
        (offset,) = struct.unpack_from(order + "I", data, end)
    return pages


def result_vars(
    status: str, error: str | None, detail: str, pages: int, local_station: str
) -> list[tuple[str, str]]:
    """set_channel_variables() of res_fax, in its order, NULLs left out."""
    ok = status == "SUCCESS"
    pairs: list[tuple[str, str | None]] = [
        ("FAXSTATUS", status), ("FAXERROR", error), ("FAXSTATUSSTRING", detail),
        ("REMOTESTATIONID", REMOTE_STATION if ok or pages else None),
        ("LOCALSTATIONID", local_station or None),
        ("FAXBITRATE", "14400" if ok or pages else None),
        ("FAXRESOLUTION", "8040x7700" if ok or pages else None),
        ("FAXMODE", "audio"), ("FAXPAGES", str(pages)),
    ]  # fmt: skip
    return [(name, value) for name, value in pairs if value is not None]


def run(far: FarEnd, variables: dict[str, str]) -> FaxRun:
    """What SendFAX(${CCD_FAX_FILE}) does on this far end."""
    try:
        pages = tiff_pages(Path(variables.get(FILE_VAR, "")))
    except (OSError, ValueError):
        return FaxRun(0.0, [("FAXERROR", "FILE_ERROR"), ("FAXSTATUSSTRING", "error reading file"),
                            ("FAXSTATUS", "FAILED")], fail_hangup=True)  # fmt: skip
    station = variables.get("CCD_FAX_STATION", "")
    if far.tone is None:  # a person or an answering machine: no T.30 handshake at all
        error = "Timed out waiting for initial communication"
        return FaxRun(T0_S, result_vars("FAILED", error, error, 0, station))
    if far.fax_error is not None:
        sent = min(far.fax_pages or 0, pages)
        return FaxRun(
            TRAINING_S + PAGE_S * sent,
            result_vars("FAILED", far.fax_error, far.fax_error, sent, station),
        )
    return FaxRun(TRAINING_S + PAGE_S * pages, result_vars("SUCCESS", None, "OK", pages, station))


def hangup_vars(variables: dict[str, str]) -> list[tuple[str, str]]:
    """The far end hung up mid-SendFAX (no page counted as sent)."""
    return result_vars("FAILED", "HANGUP", "remote channel hungup", 0,
                       variables.get("CCD_FAX_STATION", ""))  # fmt: skip
