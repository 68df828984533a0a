"""Phone numbers: normalisation to E.164 and the number's time zone, via phonenumbers' metadata.

Lead files hold millions of numbers, so the common shape - digits with spacing, with or
without '+' - does not go through phonenumbers.parse / number_type / time_zones_for_number
(about 20 us a number). Instead the same steps run on the digit string with the regular
expressions of phonenumbers' metadata compiled once per region (`_Plan`). Each step mirrors
one phonenumbers function, named in its docstring, in the same order with the same tests,
so the result is the same; tests/domain/test_phones.py checks that against the plain
phonenumbers calls on a large random sample. Anything else (letters, extensions, IDD
prefixes, errors of parsing) goes to phonenumbers.parse itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import (
    REGION_CODE_FOR_NON_GEO_ENTITY,
    NumberParseException,
    PhoneMetadata,
    PhoneNumberDesc,
    PhoneNumberType,
)
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    SUPPORTED_REGIONS,
    ValidationResult,
    is_number_type_geographical,
    national_significant_number,
)
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

# Text that phonenumbers reads as just its digits: an optional leading '+', then ASCII
# digits and the punctuation it skips. Tabs, letters, '#', ',' ';' (extensions), a second
# '+' or non-ASCII digits take the general parser.
_SIMPLE = re.compile(r"(\+?)([0-9 \-().\u00a0]*)")
_PUNCTUATION = str.maketrans("", "", " -().\u00a0")
_MAX_INPUT = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH: longer text is an error
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_UNKNOWN_TZ = "Etc/Unknown"
# Types tested before fixed line and mobile, in number_type's order.
_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


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


def _pattern(desc: object) -> re.Pattern[str] | None:
    """A description's national number pattern, compiled; None when it has none (never matches)."""
    text = getattr(desc, "national_number_pattern", None) if desc is not None else None
    return re.compile(text) if text else None


class _Plan:
    """One region's metadata, compiled for the digit-string steps below."""

    def __init__(self, md: PhoneMetadata | None) -> None:
        # Plans are built only for the regions and country codes phonenumbers lists.
        assert md is not None and md.country_code is not None, "no phone metadata"
        self.md = md
        self.country_code: int = md.country_code
        self.cc = str(md.country_code)
        self.general = _pattern(md.general_desc)
        idd = md.international_prefix
        self.idd = re.compile(idd) if idd is not None else None
        prefix = md.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.transform = md.national_prefix_transform_rule or None
        self.same_fixed_mobile = bool(md.same_mobile_and_fixed_line_pattern)
        leading = md.leading_digits
        self.leading_digits = re.compile(leading) if leading is not None else None
        self._checks: dict[int, _Checks] = {}
        self._length_results: dict[int, int] = {}

    def matches_general(self, digits: str) -> bool:
        """phonenumbers' _match_national_number(digits, general_desc, False); it tests
        match() and then fullmatch(), and a full match is always a match."""
        return self.general is not None and self.general.fullmatch(digits) is not None

    def length_result(self, digits: str) -> int:
        """phonenumbers' _test_number_length(digits, metadata): it only looks at the length,
        so its answer for any string of that length is the answer."""
        n = len(digits)
        result = self._length_results.get(n)
        if result is None:
            test = phonenumbers.phonenumberutil._test_number_length
            result = self._length_results[n] = test("0" * n, self.md)
        return result

    def strip_national_prefix(self, digits: str) -> str:
        """phonenumbers' _maybe_strip_national_prefix_carrier_code, without the carrier code."""
        if not digits or self.national_prefix is None:
            return digits
        found = self.national_prefix.match(digits)
        if found is None:
            return digits
        viable = self.matches_general(digits)
        groups = found.groups()
        if self.transform is None or groups[len(groups) - 1] is None:
            rest = digits[found.end() :]
        else:
            rest = self.national_prefix.sub(self.transform, digits, count=1)
        if viable and not self.matches_general(rest):
            return digits
        return rest

    def number_type(self, nsn: str) -> int:
        """phonenumbers' _number_type_helper(nsn, metadata)."""
        checks = self._checks.get(len(nsn))
        if checks is None:
            checks = self._checks[len(nsn)] = _Checks.build(self.md, len(nsn))
        if checks.general is None or checks.general.fullmatch(nsn) is None:
            return PhoneNumberType.UNKNOWN
        for ntype, pattern in checks.special:
            if pattern.fullmatch(nsn) is not None:
                return ntype
        fixed = checks.fixed is not None and checks.fixed.fullmatch(nsn) is not None
        if self.same_fixed_mobile:  # the mobile pattern is not tested then
            return PhoneNumberType.FIXED_LINE_OR_MOBILE if fixed else PhoneNumberType.UNKNOWN
        mobile = checks.mobile is not None and checks.mobile.fullmatch(nsn) is not None
        if fixed:
            return PhoneNumberType.FIXED_LINE_OR_MOBILE if mobile else PhoneNumberType.FIXED_LINE
        return PhoneNumberType.MOBILE if mobile else PhoneNumberType.UNKNOWN


@dataclass(frozen=True, slots=True)
class _Checks:
    """The patterns _is_number_matching_desc would test for numbers of one length: a
    description whose possible lengths exclude it, or that has no pattern, never matches."""

    general: re.Pattern[str] | None
    special: tuple[tuple[int, re.Pattern[str]], ...]
    fixed: re.Pattern[str] | None
    mobile: re.Pattern[str] | None

    @staticmethod
    def build(md: PhoneMetadata, length: int) -> _Checks:
        def usable(desc: PhoneNumberDesc | None) -> re.Pattern[str] | None:
            if desc is None:
                return None
            lengths = desc.possible_length
            if lengths and length not in lengths:
                return None
            return _pattern(desc)

        special = tuple(
            (ntype, p) for name, ntype in _SPECIAL_TYPES if (p := usable(getattr(md, name)))
        )
        return _Checks(usable(md.general_desc), special, usable(md.fixed_line), usable(md.mobile))


@cache
def _region_plan(region: str) -> _Plan:
    return _Plan(PhoneMetadata.metadata_for_region(region))


@cache
def _country_plans(country_code: int) -> tuple[_Plan, ...]:
    """The plans of the regions sharing a country code, in phonenumbers' order; the first is
    the main region, whose metadata parse and format use."""
    regions = COUNTRY_CODE_TO_REGION_CODE[country_code]
    if regions == (REGION_CODE_FOR_NON_GEO_ENTITY,):  # +800, +882...
        return (_Plan(PhoneMetadata.metadata_for_nongeo_region(country_code)),)
    return tuple(_region_plan(r) for r in regions)


def _number_type(country_code: int, nsn: str) -> int:
    """phonenumbers' number_type: the region that claims the number, then its type there."""
    plans = _country_plans(country_code)
    if len(plans) == 1:
        return plans[0].number_type(nsn)
    for plan in plans:  # _region_code_for_number_from_list
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return plan.number_type(nsn)
        elif (ntype := plan.number_type(nsn)) != PhoneNumberType.UNKNOWN:
            return ntype
    return PhoneNumberType.UNKNOWN


def _split_country_code(digits: str) -> tuple[int, str] | None:
    """phonenumbers' _extract_country_code; None when there is none."""
    if not digits or digits[0] == "0":
        return None
    for n in (1, 2, 3):
        if len(digits) >= n and (cc := int(digits[:n])) in COUNTRY_CODE_TO_REGION_CODE:
            return cc, digits[n:]
    return None


def _parse_digits(plus: bool, digits: str, region: str | None) -> tuple[int, str] | None:
    """phonenumbers.parse of a number that is just `digits` (after '+' when `plus`):
    (country code, national significant number), or None where parse would take a path not
    mirrored here (IDD prefix, an error) - the caller then asks parse itself."""
    if len(digits) < 3:  # parse's viability test, and its errors for short numbers
        return None
    if plus:
        split = _split_country_code(digits)
        if split is None:
            return None
        country_code, national = split
    else:
        if region not in SUPPORTED_REGIONS:
            return None
        home = _region_plan(region)
        if home.idd is not None and (idd := home.idd.match(digits)):
            if digits[idd.end() : idd.end() + 1] != "0":  # _parse_prefix_as_idd strips it
                return None
        country_code, national = 0, digits
        if digits.startswith(home.cc):  # the country code written without '+'
            rest = home.strip_national_prefix(digits[len(home.cc) :])
            if (
                not home.matches_general(digits) and home.matches_general(rest)
            ) or home.length_result(digits) == ValidationResult.TOO_LONG:
                country_code, national = home.country_code, rest
        if country_code == 0:
            return _strip_and_check(home, home.country_code, national)
    return _strip_and_check(_country_plans(country_code)[0], country_code, national)


def _strip_and_check(plan: _Plan, country_code: int, national: str) -> tuple[int, str] | None:
    """The end of parse: drop a national prefix if what is left has a possible length."""
    if len(national) < _MIN_NSN:
        return None
    stripped = plan.strip_national_prefix(national)
    if plan.length_result(stripped) not in (
        ValidationResult.TOO_SHORT,
        ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        ValidationResult.INVALID_LENGTH,
    ):
        national = stripped
    if len(national) > _MAX_NSN:
        return None
    # parse keeps leading zeros (Italian numbers) as a count beside the integer; the
    # national significant number it formats back is these same digits.
    return country_code, national


@cache
def _zone_prefix_lengths(country_code: int) -> tuple[int, ...]:
    """Lengths of the time-zone table's prefixes that can match numbers of this country
    code, longest first: probing only these finds the same longest prefix."""
    cc = str(country_code)
    return tuple(
        sorted(
            {len(p) for p in TIMEZONE_DATA if p.startswith(cc) or cc.startswith(p)},
            reverse=True,
        )
    )


@cache
def _zones_for_prefix(prefix: str) -> tuple[str, ...]:
    return tuple(z for z in TIMEZONE_DATA[prefix] if z != _UNKNOWN_TZ)


def _time_zones(country_code: int, nsn: str, ntype: int) -> tuple[str, ...]:
    """phonenumbers.timezone.time_zones_for_number for a valid number, Etc/Unknown left out."""
    cc = str(country_code)
    if is_number_type_geographical(ntype, country_code):
        # time_zones_for_geographical_number: the longest table prefix of the E.164 digits.
        digits = cc + nsn
        for n in _zone_prefix_lengths(country_code):
            if (prefix := digits[:n]) in TIMEZONE_DATA:
                return _zones_for_prefix(prefix)
        return ()
    # _country_level_time_zones_for_number probes cc[:1 + n] for n = longest .. 1.
    for n in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        if (prefix := cc[: 1 + n]) in TIMEZONE_DATA:
            return _zones_for_prefix(prefix)
    return ()


def normalize(raw: str, region: str | None = None) -> Phone:
    """Parse `raw` (international, or national for `region`), validate, and find its zones."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty phone number")
    parsed = None
    if len(text) <= _MAX_INPUT and (simple := _SIMPLE.fullmatch(text)):
        parsed = _parse_digits(bool(simple[1]), simple[2].translate(_PUNCTUATION), region)
    if parsed is None:
        try:
            num = phonenumbers.parse(text, region)
        except NumberParseException as exc:
            raise InvalidNumber(_parse_error(exc, region)) from None
        assert num.country_code is not None  # parse() sets it on every number it returns
        parsed = num.country_code, national_significant_number(num)
    country_code, nsn = parsed
    ntype = _number_type(country_code, nsn)
    if ntype == PhoneNumberType.UNKNOWN:  # what is_valid_number tests
        raise InvalidNumber(f"not a valid number: {text!r}")
    return Phone(e164=f"+{country_code}{nsn}", time_zones=_time_zones(country_code, nsn, ntype))


def _parse_error(exc: NumberParseException, region: str | None) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if region is None:
            return "national number without a region (give --region or use +country code)"
        return "invalid country code"
    if exc.error_type == NumberParseException.NOT_A_NUMBER:
        return "not a phone number"
    if exc.error_type in (
        NumberParseException.TOO_SHORT_NSN,
        NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return "too short"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "too long"
    return str(exc)
