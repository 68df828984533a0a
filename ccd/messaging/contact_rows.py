"""One row of a contacts file, validated and normalised. Pure: no I/O.

Known columns (header names compared case-insensitively, spaces, dashes and underscores
ignored): phone, email, fax, first_name, last_name, birth_date, age_group, gender, language,
social_status, time_zone, preferred_channels ("sms,email"), and consent_<channel> (yes, no,
or pending: asked for and not confirmed yet; marketing consent in the source). Every other
column goes to `fields`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from ccd.domain.calling_hours import lead_time_zone, zone
from ccd.domain.phones import InvalidNumber, normalize

CHANNELS = ("call", "sms", "email", "fax")
ATTRIBUTE_COLUMNS = (
    "phone", "email", "fax", "first_name", "last_name", "birth_date", "age_group", "gender",
    "language", "social_status", "time_zone", "preferred_channels",
)  # fmt: skip
_ALIASES = {
    "name": "first_name", "firstname": "first_name", "lastname": "last_name",
    "surname": "last_name", "birthdate": "birth_date", "dob": "birth_date", "sex": "gender",
    "lang": "language", "timezone": "time_zone", "tz": "time_zone", "agegroup": "age_group",
    "socialstatus": "social_status", "preferredchannels": "preferred_channels",
    "channels": "preferred_channels", "mail": "email", "e-mail": "email",
}  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GENDERS = {"f": "f", "female": "f", "w": "f", "ж": "f", "m": "m", "male": "m", "м": "m",
            "x": "x", "other": "x"}  # fmt: skip
_YES = {"yes", "y", "1", "true", "opt_in", "да"}
_NO = {"no", "n", "0", "false", "opt_out", "нет"}
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class RowError(ValueError):
    """A rejected row: the message names the column and what is wrong."""


@dataclass(frozen=True, slots=True)
class ContactColumns:
    """Header index of each known column; consent columns by channel; the rest as fields."""

    known: dict[str, int]
    consent: dict[str, int]
    extra: tuple[tuple[int, str], ...]


def _fold(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch not in " _-.")


def resolve(header: list[str]) -> ContactColumns:
    known: dict[str, int] = {}
    consent: dict[str, int] = {}
    extra: list[tuple[int, str]] = []
    folded_known = {_fold(c): c for c in ATTRIBUTE_COLUMNS} | _ALIASES
    for i, name in enumerate(header):
        f = _fold(name)
        if f.startswith("consent") and f.removeprefix("consent") in CHANNELS:
            consent.setdefault(f.removeprefix("consent"), i)
        elif f in folded_known and folded_known[f] not in known:
            known[folded_known[f]] = i
        else:
            extra.append((i, name))
    if "phone" not in known and "email" not in known:
        raise RowError(f"no phone or email column; columns found: {', '.join(header)}")
    return ContactColumns(known, consent, tuple(extra))


@dataclass(frozen=True, slots=True)
class ContactRow:
    line: int
    phone: str | None
    email: str | None
    fax: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    age_group: str | None
    gender: str | None
    language: str | None
    social_status: str | None
    time_zone: str | None
    preferred: list[str]
    fields: dict[str, str]
    consent: dict[str, str]  # channel -> opt_in | opt_out

    def attributes(self) -> list[str]:
        """The attributes this row gives a value (for their source)."""
        names = [c for c in ATTRIBUTE_COLUMNS if c != "preferred_channels"]
        out = [n for n in names if getattr(self, n) is not None]
        return out + (["preferred_channels"] if self.preferred else [])


def _birth_date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise RowError(f"birth_date: not a date (YYYY-MM-DD or DD.MM.YYYY): {text!r}")


def parse(line: int, cells: list[str], cols: ContactColumns, region: str | None) -> ContactRow:
    def cell(name: str) -> str | None:
        i = cols.known.get(name)
        value = cells[i].strip() if i is not None and i < len(cells) else ""
        return value or None

    phone_zones: tuple[str, ...] = ()
    phone = fax = None
    if raw := cell("phone"):
        try:
            p = normalize(raw, region)
        except InvalidNumber as exc:
            raise RowError(f"phone: {exc}") from None
        phone, phone_zones = p.e164, p.time_zones
    if raw := cell("fax"):
        try:
            fax = normalize(raw, region).e164
        except InvalidNumber as exc:
            raise RowError(f"fax: {exc}") from None
    email = cell("email")
    if email is not None:
        email = email.lower()
        if not _EMAIL.match(email):
            raise RowError(f"email: not an e-mail address: {email!r}")
    if phone is None and email is None:
        raise RowError("phone, email: neither is given")
    gender = cell("gender")
    if gender is not None:
        if gender.lower() not in _GENDERS:
            raise RowError(f"gender: expected f, m or x: {gender!r}")
        gender = _GENDERS[gender.lower()]
    language = cell("language")
    if language is not None:
        language = language.lower()
        if not _LANGUAGE.match(language):
            raise RowError(f"language: expected an ISO 639 code such as uk: {language!r}")
    tz = cell("time_zone")
    if tz is not None and zone(tz) is None:
        raise RowError(f"time_zone: unknown IANA zone {tz!r}")
    if tz is None and phone_zones:
        tz = lead_time_zone(phone_zones, "")
    preferred: list[str] = []
    if raw := cell("preferred_channels"):
        preferred = [c.strip().lower() for c in re.split(r"[,;| ]+", raw) if c.strip()]
        if bad := [c for c in preferred if c not in CHANNELS]:
            raise RowError(
                f"preferred_channels: unknown channel {bad[0]!r} (known: {', '.join(CHANNELS)})"
            )
    consent: dict[str, str] = {}
    for channel, i in cols.consent.items():
        value = cells[i].strip().lower() if i < len(cells) else ""
        if not value:
            continue
        if value in _YES:
            consent[channel] = "opt_in"
        elif value in _NO:
            consent[channel] = "opt_out"
        elif value == "pending":  # signed up, not confirmed yet (double opt-in)
            consent[channel] = "pending"
        else:
            raise RowError(f"consent_{channel}: expected yes, no or pending: {value!r}")
    born = cell("birth_date")
    fields = {name: v for i, name in cols.extra if i < len(cells) and (v := cells[i].strip())}
    return ContactRow(
        line, phone, email, fax, cell("first_name"), cell("last_name"),
        _birth_date(born) if born else None, cell("age_group"), gender, language,
        cell("social_status"), tz, list(dict.fromkeys(preferred)), fields, consent,
    )  # fmt: skip
