"""Phone normalisation speed: ccd.domain.phones.normalize against plain phonenumbers calls.

Both run in the same process on the same numbers: the mix that bench/import_leads.py
writes into its lead file (Russian mobiles and landlines in '+7', '8' and bare formats,
UK, US, German, a few invalid). The baseline is the straightforward way: phonenumbers.parse,
is_valid_number, format_number(E164), timezone.time_zones_for_number, which gives the same
answers (see tests/domain/test_phones.py). Prints microseconds per number for each, by
kind, and the ratio.

Run: python bench/phones.py [--numbers N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers.timezone import time_zones_for_number

from ccd.domain.phones import InvalidNumber, normalize


def random_phone(rng: random.Random) -> str:
    k = rng.random()
    d = rng.randrange
    if k < 0.25:
        area = rng.choice(["495", "499", "812", "843"])
        return f"+7 ({area}) {d(200, 999)}-{d(100):02d}-{d(100):02d}"
    if k < 0.45:
        return f"8 9{d(10, 99)} {d(100, 999)} {d(100):02d} {d(100):02d}"
    if k < 0.65:
        return f"89{d(10, 99)}{d(10_000_000):07d}"
    if k < 0.75:
        return f"+79{d(10, 99)}{d(10_000_000):07d}"
    if k < 0.84:
        return f"+44 20 7{d(100, 999)} {d(1000, 9999)}"
    if k < 0.93:
        return f"+1 ({rng.choice(['212', '310', '415', '646'])}) {d(200, 999)}-{d(1000, 9999)}"
    if k < 0.97:
        return f"+49 30 {d(1_000_000, 9_999_999)}"
    return rng.choice(["12345", "n/a", "+7 000 000", "", "8 800", "тел. нет"])  # invalid


def reference(raw: str, region: str | None) -> tuple[str, tuple[str, ...]] | None:
    try:
        num = phonenumbers.parse(raw.strip(), region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    zones = tuple(z for z in time_zones_for_number(num) if z != "Etc/Unknown")
    return phonenumbers.format_number(num, PhoneNumberFormat.E164), zones


def fast(raw: str, region: str | None) -> tuple[str, tuple[str, ...]] | None:
    try:
        phone = normalize(raw, region)
    except InvalidNumber:
        return None
    return phone.e164, phone.time_zones


def per_number_us(fn: Callable[[str, str | None], object], numbers: list[str]) -> float:
    """Best of three passes, in microseconds per number (the machine is shared)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for raw in numbers:
            fn(raw, "RU")
        best = min(best, time.perf_counter() - started)
    return best * 1e6 / len(numbers)


def sample(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [random_phone(rng) for _ in range(count)]


def report(count: int) -> tuple[float, float]:
    """Print the figures; returns (normalize, baseline) microseconds per number."""
    numbers = sample(count)
    kinds = {
        "national '8...'": [n for n in numbers if n.startswith("8")],
        "international '+...'": [n for n in numbers if n.startswith("+")],
        "all": numbers,
    }
    print(f"phone normalisation, {count} numbers of the lead-file mix, region RU (µs/number):")
    result = (0.0, 0.0)
    for kind, subset in kinds.items():
        ours, base = per_number_us(fast, subset), per_number_us(reference, subset)
        print(f"  {kind:22} normalize {ours:5.2f}   plain phonenumbers (baseline) {base:5.2f}"
              f"   {base / ours:4.1f}x faster")  # fmt: skip
        result = (ours, base)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=50_000)
    report(parser.parse_args().numbers)


if __name__ == "__main__":
    main()
