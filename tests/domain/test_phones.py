"""normalize() gives exactly what the plain phonenumbers calls give, on many realistic inputs.

The reference is the straightforward way: phonenumbers.parse, is_valid_number, format_number
(E164) and timezone.time_zones_for_number. normalize takes its own faster route for most
numbers, so every sample is compared: same E.164, same zones, or the same kind of error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import phonenumbers
import pytest
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from ccd.domain.phones import InvalidNumber, Phone, normalize

Outcome = tuple[str, object]

# What normalize must say for each of phonenumbers' parse errors (first words of the message).
_PARSE_ERRORS = {
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def reference(raw: str, region: str | None) -> Outcome:
    text = raw.strip()
    if not text:
        return ("error", "empty phone number")
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return ("error", "national number without a region" if region is None
                    else "invalid country code")  # fmt: skip
        return ("error", _PARSE_ERRORS[exc.error_type])
    if not phonenumbers.is_valid_number(num):
        return ("error", "not a valid number")
    zones = tuple(z for z in time_zones_for_number(num) if z != "Etc/Unknown")
    return (phonenumbers.format_number(num, PhoneNumberFormat.E164), zones)


def fast(raw: str, region: str | None) -> Outcome:
    try:
        phone = normalize(raw, region)
    except InvalidNumber as exc:
        message = str(exc)
        for start in ("national number without a region", "not a valid number"):
            if message.startswith(start):
                return ("error", start)
        return ("error", message)
    return (phone.e164, phone.time_zones)


def assert_same(samples: list[tuple[str, str | None]]) -> None:
    wrong = [(raw, region, want, got) for raw, region in samples
             if (want := reference(raw, region)) != (got := fast(raw, region))]  # fmt: skip
    assert not wrong, f"{len(wrong)} of {len(samples)} differ, e.g. {wrong[:5]}"


def d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def spaced(rng: random.Random, digits: str) -> str:
    """The digits split at random places by the separators people type."""
    out = []
    for ch in digits:
        if out and rng.random() < 0.25:
            out.append(rng.choice([" ", "-", " - ", ".", "\u00a0", "  "]))
        out.append(ch)
    return "".join(out)


def ru_formats(rng: random.Random, national: str) -> str:
    """A 10-digit Russian national number (916..., 495..., 3812...) as people write it."""
    area, rest = national[:3], national[3:]
    dashed = f"{rest[:3]}-{rest[3:5]}-{rest[5:]}"
    return rng.choice([
        f"+7{national}", f"+7 {area} {rest}", f"+7 ({area}) {dashed}", f"8 ({area}) {dashed}",
        f"8{national}", f"8 {area} {rest[:3]} {rest[3:5]} {rest[5:]}", f"7{national}",
        f"7 ({area}) {dashed}", national, f"({area}) {dashed}", f"+7 8 {area} {rest}",
        f"+78{national}", f"8-{area}-{dashed}", f"8 10 7 {national}", f"810 7{national}",
        f"+7{national}0", f"+7{national[:-1]}", f"8{national}1", f"8 8{national}",
        f"77{national}", f"  +7 {spaced(rng, national)}  ", f"8 {spaced(rng, national)}",
        f"+7 {area}\t{rest}", f"тел. 8{national}", f"8{national} доб. 123",
        f"8{national}#", f"+7-{national}, +7-{national}",
    ])  # fmt: skip


def russian(rng: random.Random) -> tuple[str, str | None]:
    k = rng.random()
    if k < 0.4:  # mobiles
        national = "9" + d(rng, 9)
    elif k < 0.75:  # landlines: real area codes, and random ones
        area = rng.choice(["495", "499", "812", "843", "383", "391", "423", "3812", "4012",
                           "8442", "3452", "4212", "8152"])  # fmt: skip
        if rng.random() < 0.7:
            national = (area + d(rng, 10))[:10]
        else:
            national = rng.choice("3489") + d(rng, 9)
    elif k < 0.85:  # toll free, premium, and other 8xx
        national = "8" + rng.choice(["00", "09", "04", "03", "08", "12"]) + d(rng, 7)
    else:  # anything of about the right length
        national = d(rng, rng.choice([9, 10, 10, 11]))
    region = rng.choice(["RU"] * 8 + ["KZ", None])
    return ru_formats(rng, national) if len(national) == 10 else rng.choice(
        [national, "8" + national, "+7" + national]
    ), region


def international(rng: random.Random) -> tuple[str, str | None]:
    uk = "20 7" + d(rng, 3) + " " + d(rng, 4)
    uk_mobile = "7" + rng.choice(["4", "5", "7", "8", "9"]) + d(rng, 8)
    us_area = rng.choice(["212", "310", "415", "646", "800", "555", "011", "911"])
    us = f"({us_area}) {d(rng, 3)}-{d(rng, 4)}"
    de_area = rng.choice(["30", "40", "89", "151", "160", "171", "221"])
    de = f"{de_area} {d(rng, rng.randint(5, 9))}"
    it = rng.choice(["06", "02", "011", "3" + d(rng, 2), "0"]) + " " + d(rng, rng.randint(5, 8))
    return rng.choice([
        (f"+44 {uk}", "RU"), (f"0{uk}", "GB"), (f"+44 (0) {uk}", None), (f"0044 {uk}", "GB"),
        (f"+44 {uk_mobile}", None), (f"0{uk_mobile}", "GB"), (f"0{uk_mobile}", "JE"),
        (f"+44 {d(rng, rng.randint(6, 12))}", "RU"), (f"+1 {us}", "RU"), (us, "US"),
        (f"1-{us}", "US"), (f"+1 1 {us}", None), (f"011 44 {uk}", "US"), (us, "CA"),
        (f"+1 {d(rng, 10)}", None), (f"+49 {de}", "RU"), (f"0{de}", "DE"),
        (f"+49 (0){de}", None), (f"+39 {it}", "RU"), (it, "IT"), (f"+39 0{d(rng, 9)}", None),
        (f"+{d(rng, rng.randint(1, 16))}", rng.choice(["RU", None])),
        (spaced(rng, d(rng, rng.randint(1, 19))), rng.choice(["RU", "GB", "US", "DE", "IT", None])),
        (rng.choice(["12345", "n/a", "+7 000 000", "", "8 800", "тел. нет", "  ", "+", "++7916",
                     "+7 916 ABC-DE-FG", "1-800-FLOWERS", "+٧٩١٦١٢٣٤٥٦٧", "＋79161234567",
                     "+7 916 123 45 67 ext. 5", "tel:+7-916-123-45-67", "8 (916) 123-45-67)"]),
         rng.choice(["RU", "US", None, "ru", "XX"])),
    ])  # fmt: skip


def examples(rng: random.Random) -> Iterator[tuple[str, str | None]]:
    """phonenumbers' example number of every type of every region, written every way, and
    with the last digits changed (so some become invalid)."""
    types = [t for t in PhoneNumberType.values() if t != PhoneNumberType.UNKNOWN]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for ntype in types:
            example = phonenumbers.example_number_for_type(region, ntype)
            if example is None:
                continue
            for fmt in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL,
                        PhoneNumberFormat.E164):  # fmt: skip
                text = phonenumbers.format_number(example, fmt)
                yield text, region
                digits = "".join(ch for ch in text if ch.isdigit())
                changed = digits[:-2] + d(rng, rng.choice([1, 2, 2, 3]))
                yield ("+" if text.startswith("+") else "") + spaced(rng, changed), region
                yield text, rng.choice(sorted(phonenumbers.SUPPORTED_REGIONS))
            nsn = phonenumbers.national_significant_number(example)
            yield f"{example.country_code}{nsn}", region  # country code without '+'


def region_digits(rng: random.Random) -> Iterator[tuple[str, str | None]]:
    """Random digits of about the right length for every region, after its national prefix
    or its country code (no '+'), so every region's prefix rules are exercised."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        md = PhoneMetadata.metadata_for_region(region)
        lengths = md.general_desc.possible_length
        for _ in range(40):
            n = rng.choice(lengths) + rng.choice([-1, 0, 0, 0, 1])
            lead = rng.choice([md.national_prefix or "", str(md.country_code), ""])
            yield lead + d(rng, max(n, 1)), region


def sample(make: Callable[[random.Random], tuple[str, str | None]], n: int, seed: int) -> list:
    rng = random.Random(seed)
    return [make(rng) for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2])
def test_russian_numbers_in_every_format_match_phonenumbers(seed: int) -> None:
    assert_same(sample(russian, 20_000, seed))


@pytest.mark.parametrize("seed", [1, 2])
def test_international_and_broken_numbers_match_phonenumbers(seed: int) -> None:
    assert_same(sample(international, 20_000, seed))


def test_example_numbers_of_every_region_match_phonenumbers() -> None:
    assert_same(list(examples(random.Random(3))))


def test_random_digits_for_every_region_match_phonenumbers() -> None:
    assert_same(list(region_digits(random.Random(4))))


def test_samples_cover_fast_and_general_paths_and_errors() -> None:
    """The comparisons above are only worth something if they hit each outcome often."""
    outcomes = [reference(raw, region) for raw, region in sample(russian, 3000, 9)]
    outcomes += [reference(raw, region) for raw, region in sample(international, 3000, 9)]
    errors = {o[1] for o in outcomes if o[0] == "error"}
    assert errors >= {"not a valid number", "not a phone number", "too short", "too long",
                      "invalid country code", "national number without a region",
                      "empty phone number"}  # fmt: skip
    valid = [o for o in outcomes if o[0] != "error"]
    assert len(valid) > len(outcomes) / 2
    assert len({o[1] for o in valid}) > 20  # many distinct zone lists


def test_known_numbers() -> None:
    moscow = Phone("+74951234567", ("Europe/Moscow",))
    assert normalize("8 (495) 123-45-67", "RU") == moscow
    assert normalize("+7 495 123 45 67") == moscow
    assert normalize("74951234567", "RU") == moscow
    assert normalize("+7 8 495 123 45 67") == moscow  # a national prefix after the country code
    mobile = normalize("89161234567", "RU")
    assert mobile.e164 == "+79161234567" and len(mobile.time_zones) > 5
    assert normalize("+39 06 1234 5678").e164 == "+390612345678"  # Italian leading zero
    assert normalize("020 7946 0958", "GB") == Phone("+442079460958", ("Europe/London",))
    assert normalize("+1 1 (212) 555-1234").e164 == "+12125551234"
    with pytest.raises(InvalidNumber, match="not a valid number: '8 495 123'"):
        normalize("8 495 123", "RU")
    with pytest.raises(InvalidNumber, match="without a region"):
        normalize("89161234567")
    with pytest.raises(InvalidNumber, match="empty"):
        normalize("   ")


def test_time_zone_picks_the_preferred_candidate() -> None:
    mobile = normalize("+79161234567")
    assert mobile.time_zone("Asia/Novosibirsk") == "Asia/Novosibirsk"
    assert mobile.time_zone("Europe/London") == mobile.time_zones[0]
    assert Phone("+80012345678", ()).time_zone("UTC") == "UTC"
