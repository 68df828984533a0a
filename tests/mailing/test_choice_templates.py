"""Channel choice (every left-out reason) and template rendering: pure functions."""

from __future__ import annotations

import pytest

from ccd.messaging.choice import LeftOut, Recipient, choose
from ccd.messaging.sms.encoding import count_parts
from ccd.messaging.templates import render, render_or_fallback

BOTH = {"sms": "+74951000001", "email": "a@example.com", "fax": None}


def _r(**kw: object) -> Recipient:
    base: dict[str, object] = {"addresses": BOTH, "consent": {"sms": "opt_in", "email": "opt_in"}}
    return Recipient(**{**base, **kw})  # type: ignore[arg-type]


def test_own_preference_first_then_the_variants_order() -> None:
    assert choose(_r(preferred=["email"]), ["sms", "email"], marketing=True,
                  require_opt_in=True) == ("email", None)  # fmt: skip
    assert choose(_r(), ["sms", "email"], marketing=True, require_opt_in=True) == ("sms", None)
    # A preferred channel the variant does not allow is passed over.
    assert choose(_r(preferred=["fax"]), ["email"], marketing=True,
                  require_opt_in=True) == ("email", None)  # fmt: skip


def test_falls_through_to_a_consented_channel() -> None:
    r = _r(consent={"sms": "opt_out", "email": "opt_in"})
    assert choose(r, ["sms", "email"], marketing=True, require_opt_in=True) == ("email", None)


@pytest.mark.parametrize(
    ("recipient", "reason"),
    [
        (_r(consent={"sms": "opt_out"}), LeftOut.OPTED_OUT),
        (_r(consent={}), LeftOut.NO_CONSENT),
        (_r(consent={"sms": "pending"}), LeftOut.NO_CONSENT),  # double opt-in not confirmed
        (_r(capped=True), LeftOut.CAPPED),
        (_r(blacklisted=frozenset({"sms"})), LeftOut.BLACKLISTED),
        (_r(addresses={"sms": None, "email": "a@example.com"}), LeftOut.NO_ADDRESS),
    ],
)
def test_every_left_out_reason(recipient: Recipient, reason: LeftOut) -> None:
    assert choose(recipient, ["sms"], marketing=True, require_opt_in=True) == (None, reason)


def test_service_needs_no_opt_in_and_is_not_capped_but_opt_out_holds() -> None:
    r = _r(consent={}, capped=True)
    assert choose(r, ["sms"], marketing=False, require_opt_in=True) == ("sms", None)
    r = _r(consent={"sms": "opt_out"})
    assert choose(r, ["sms"], marketing=False, require_opt_in=True) == (None, LeftOut.OPTED_OUT)


def test_marketing_without_required_opt_in_still_respects_opt_out() -> None:
    assert choose(_r(consent={}), ["sms"], marketing=True, require_opt_in=False) == ("sms", None)
    assert choose(_r(consent={"sms": "opt_out"}), ["sms"], marketing=True,
                  require_opt_in=False) == (None, LeftOut.OPTED_OUT)  # fmt: skip


def test_render_variables_and_fallback() -> None:
    values = {"first_name": "Olena", "fields": {"balance": "12.50"}}
    assert render("Hi {first_name}, you owe {fields.balance}", values) == "Hi Olena, you owe 12.50"
    assert render("Hi {first_name}, {fields.due}", values) is None
    assert render_or_fallback("Hi {fields.due}", "Hello {first_name}", values) == "Hello Olena"
    assert render_or_fallback("Hi {fields.due}", "Hello {last_name}", values) == "Hello {last_name}"


def test_preview_counts_sms_parts_as_the_sms_adapter_bills_them() -> None:
    assert count_parts("a" * 160) == 1
    assert count_parts("a" * 161) == 2
    assert count_parts("a" * 306) == 2
    assert count_parts("€" * 80) == 1  # extension characters count twice: 160 units
    assert count_parts("€" * 81) == 2
    assert count_parts("ї" * 70) == 1
    assert count_parts("ї" * 71) == 2


def test_email_encodes_non_ascii_headers_and_bodies() -> None:
    import email
    import email.policy

    from ccd.messaging.channel import OutboundMessage
    from ccd.messaging.email import build_email

    built = build_email(OutboundMessage(7, "email", "olena@example.com", "Привіт, Олено!\n\nБорг",
                                        subject="Ваш баланс", unsubscribe_url="https://x/u/7-a"),
                        "Центр <news@example.com>")  # fmt: skip
    raw = built.as_bytes()
    assert max(raw) < 128  # 7-bit on the wire: headers RFC 2047, bodies base64
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert back["Subject"] == "Ваш баланс" and back["From"] == "Центр <news@example.com>"
    plain = back.get_body(("plain",))
    html = back.get_body(("html",))
    assert plain is not None and "Привіт, Олено!" in plain.get_content()
    assert html is not None and "<p>Борг</p>" in html.get_content()
    assert back["List-Unsubscribe"] == "<https://x/u/7-a>"


def test_double_opt_in_sends_the_confirmation_on_a_pending_channel_only_when_asked() -> None:
    r = _r(consent={"sms": "opt_out", "email": "pending"})
    assert choose(r, ["sms", "email"], marketing=True, require_opt_in=True) == (
        None, LeftOut.OPTED_OUT,
    )  # fmt: skip
    assert choose(r, ["sms", "email"], marketing=True, require_opt_in=True,
                  confirm_pending={"email"}) == ("email", None)  # fmt: skip
    # No confirmation template for the pending channel: left out as before.
    assert choose(r, ["sms", "email"], marketing=True, require_opt_in=True,
                  confirm_pending={"sms"}) == (None, LeftOut.OPTED_OUT)  # fmt: skip
    # Capped contacts still get the confirmation: it is not marketing.
    r = _r(consent={"email": "pending"}, capped=True)
    assert choose(r, ["email"], marketing=True, require_opt_in=True,
                  confirm_pending={"email"}) == ("email", None)  # fmt: skip


def test_a_confirmation_text_must_carry_its_link() -> None:
    from pydantic import ValidationError

    from ccd.messaging.spec import MailingSpec

    variant = {"channels": ["sms"], "templates": {"sms": {"text": {"default": "x"},
                                                          "fallback": "y"}}}  # fmt: skip
    with pytest.raises(ValidationError, match="needs the {confirm_url} link"):
        MailingSpec.model_validate({"variants": [variant], "confirmation": {
            "sms": {"text": {"default": "Confirm: {confirm_url}"}, "fallback": "Confirm"},
        }})  # fmt: skip
