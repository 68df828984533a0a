"""Phone numbers: normalisation to E.164 and the number's time zone, via phonenumbers.

Lead files hold millions of numbers, so the common shapes (digits with spacing, with or
without '+') skip phonenumbers' general parser, and the time-zone lookup is cached on
exactly what phonenumbers itself keys it on (number type and leading digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType
from phonenumbers import timezone as pn_timezone
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

_SEPARATORS = re.compile(r"[\s\-().\u00a0]")
_PLUS_DIGITS = re.compile(r"\+?[0-9]{4,17}")
_UNKNOWN_TZ = "Etc/Unknown"


class InvalidNumber(ValueError):
    """The text is not a valid, dialable phone number; the message says why."""


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    time_zones: tuple[str, ...]  # empty when phonenumbers knows none

    def time_zone(self, preferred: str | None = None) -> str | None:
        """One zone for calling hours: the number's own, or `preferred` when it is one of
        several candidates (Russian mobiles list every Russian zone), else the first."""
        if not self.time_zones or preferred in self.time_zones:
            return preferred
        return self.time_zones[0]


def _fast_parse(digits: str) -> PhoneNumber | None:
    """'+' then country code and national number, no leading zero: build it directly."""
    for cc_len in (1, 2, 3):
        cc = int(digits[:cc_len])
        if cc in COUNTRY_CODE_TO_REGION_CODE:
            national = digits[cc_len:]
            if not national or national[0] == "0":
                return None  # Italian-style leading zeros: let phonenumbers handle it
            return PhoneNumber(country_code=cc, national_number=int(national))
    return None


# phonenumbers keys zones on the leading digits of geographic numbers and on the country
# for the rest; caching on the same keys gives the same answers without its prefix scan.
_zone_cache: dict[tuple[bool, str], tuple[str, ...]] = {}


def normalize(raw: str, region: str | None = None) -> Phone:
    """Parse `raw` (international, or national for `region`), validate, and find its zones."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty phone number")
    compact = _SEPARATORS.sub("", text)
    num: PhoneNumber | None = None
    if _PLUS_DIGITS.fullmatch(compact) and compact.startswith("+"):
        num = _fast_parse(compact[1:])
    if num is None:
        try:
            num = phonenumbers.parse(text, region)
        except NumberParseException as exc:
            raise InvalidNumber(_parse_error(exc, region)) from None
    ntype = phonenumbers.number_type(num)
    if ntype == PhoneNumberType.UNKNOWN:  # number_type is is_valid_number without a second scan
        raise InvalidNumber(f"not a valid number: {raw.strip()!r}")
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    geographic = phonenumbers.is_number_type_geographical(ntype, num.country_code)
    key = (geographic, e164[1 : 1 + pn_timezone.TIMEZONE_LONGEST_PREFIX] if geographic else str(num.country_code))
    zones = _zone_cache.get(key)
    if zones is None:
        found = pn_timezone.time_zones_for_number(num)
        zones = _zone_cache[key] = tuple(z for z in found if z != _UNKNOWN_TZ)
    return Phone(e164=e164, time_zones=zones)


def _parse_error(exc: NumberParseException, region: str | None) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if region is None:
            return "national number without a region (give --region or use +country code)"
        return "invalid country code"
    if exc.error_type == NumberParseException.NOT_A_NUMBER:
        return "not a phone number"
    if exc.error_type in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return "too short"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "too long"
    return str(exc)
