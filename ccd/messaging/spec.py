"""A mailing's definition as people write it (YAML), validated at the edge with pydantic.

variants:
  - segment: seniors            # omitted: everyone no earlier variant took
    channels: [sms]
    templates:
      sms:
        text: {default: "Hello {first_name}, you owe {fields.balance}", uk: "..."}
        fallback: "Hello, please check your balance"
  - channels: [sms, email]
    templates:
      email: {subject: "Your balance", text: {default: "..."}, fallback: "..."}
      sms: {text: {default: "..."}, fallback: "..."}
  - channels: [fax]               # a fax's "text" is its document: a TIFF or PDF path
    templates:
      fax: {text: {default: "/srv/ccd/notices/{fields.account}.pdf"},
            fallback: "/srv/ccd/notices/general.pdf"}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Sendable = Literal["sms", "email", "fax"]
FAX_DOCUMENT = re.compile(r"^/.*\.(tiff?|pdf)$", re.IGNORECASE)


class SpecError(ValueError):
    """The file is not a valid mailing definition; the message names the file and field."""


class ChannelTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: dict[str, str] = Field(min_length=1, description="language -> template; 'default'")
    fallback: str = Field(min_length=1, description="sent when a variable has no value")
    subject: str | None = None

    @model_validator(mode="after")
    def _default_language(self) -> ChannelTemplate:
        if "default" not in self.text:
            raise ValueError("text: needs a 'default' template (other keys are languages)")
        return self

    def for_language(self, language: str | None) -> str:
        return self.text.get(language or "default") or self.text["default"]


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str | None = None
    channels: list[Sendable] = Field(min_length=1)
    templates: dict[Sendable, ChannelTemplate]

    @model_validator(mode="after")
    def _template_per_channel(self) -> VariantSpec:
        if missing := [c for c in self.channels if c not in self.templates]:
            raise ValueError(f"templates: none for channel {missing[0]}")
        if "email" in self.channels and not self.templates["email"].subject:
            raise ValueError("templates.email.subject: an e-mail needs a subject")
        if (fax := self.templates.get("fax")) is not None:
            for where, text in [*fax.text.items(), ("fallback", fax.fallback)]:
                if not FAX_DOCUMENT.match(text.strip()):
                    raise ValueError(
                        f"templates.fax.{where}: {text!r} is not the absolute path of a"
                        " .tif, .tiff or .pdf document"
                    )
        return self


class MailingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: list[VariantSpec] = Field(min_length=1)
    # Double opt-in: contacts whose consent on a channel is `pending` get this message there
    # instead; `{confirm_url}` is their link, and their consent counts once they follow it.
    confirmation: dict[Sendable, ChannelTemplate] | None = None

    @model_validator(mode="after")
    def _confirm_link(self) -> MailingSpec:
        for channel, t in (self.confirmation or {}).items():
            for text in [*t.text.values(), t.fallback]:
                if "{confirm_url}" not in text:
                    raise ValueError(
                        f"confirmation.{channel}: every text needs the {{confirm_url}} link"
                    )
            if channel == "email" and not t.subject:
                raise ValueError("confirmation.email.subject: an e-mail needs a subject")
            if channel == "fax":
                raise ValueError("confirmation.fax: a fax cannot carry a confirmation link")
        return self


def missing_documents(spec: MailingSpec) -> list[str]:
    """Fax documents named without variables that are not files here ("variants.0.fax.default:
    /srv/x.pdf"): the daemon fails those faxes if it cannot read them either."""
    out = []
    for i, v in enumerate(spec.variants):
        fax = v.templates.get("fax")
        if fax is None:
            continue
        for where, text in [*fax.text.items(), ("fallback", fax.fallback)]:
            path = text.strip()
            if "{" not in path and not Path(path).is_file():
                out.append(f"variants.{i}.templates.fax.{where}: {path}")
    return out


def load_spec(path: Path) -> MailingSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: {exc}") from None
    try:
        return MailingSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise SpecError(f"{path}: {where}: {err['msg']}") from None
