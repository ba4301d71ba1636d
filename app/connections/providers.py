"""What leadlink knows of each provider before any request: its name, what kind of
connection it is, whether it can be connected yet, and what the owner pastes.

The admin's form and pages read this catalogue, so a new connector is one entry here plus
its own package (the shops' is `app.shop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.connections.models import Provider

__all__ = ["AVAILABLE", "CATALOGUE", "Kind", "ProviderInfo", "info"]


class Kind(StrEnum):
    SHOP = "shop"  # sends signed sale webhooks (customers)
    PLATFORM = "platform"  # likes and followers, fetched daily
    EMAIL_TOOL = "email_tool"  # receives confirmed leads


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    provider: Provider
    label: str
    kind: Kind
    available: bool
    # The secret the owner pastes (None: leadlink makes it, as for Gumroad's ping URL key).
    secret_label: str | None
    secret_prefix: str = ""

    @property
    def secret_in_a_sentence(self) -> str:
        """The secret's name inside a sentence: "signing secret", but "API key"."""
        text = self.secret_label or ""
        return text if text[:2].isupper() else text[:1].lower() + text[1:]


CATALOGUE: dict[str, ProviderInfo] = {
    item.provider.value: item
    for item in (
        ProviderInfo(Provider.STRIPE, "Stripe", Kind.SHOP, True, "Signing secret", "whsec_"),
        ProviderInfo(Provider.SHOPIFY, "Shopify", Kind.SHOP, True, "Webhook signing secret"),
        ProviderInfo(Provider.GUMROAD, "Gumroad", Kind.SHOP, True, None),
        ProviderInfo(Provider.YOUTUBE, "YouTube", Kind.PLATFORM, True, "API key"),
        ProviderInfo(Provider.INSTAGRAM, "Instagram", Kind.PLATFORM, True, "Access token"),
        ProviderInfo(Provider.FACEBOOK, "Facebook Pages", Kind.PLATFORM, True, "Access token"),
        ProviderInfo(Provider.TIKTOK, "TikTok", Kind.PLATFORM, True, "Client key"),
        ProviderInfo(Provider.MAILCHIMP, "Mailchimp", Kind.EMAIL_TOOL, True, "API key"),
        ProviderInfo(Provider.KIT, "Kit", Kind.EMAIL_TOOL, True, "API key"),
        ProviderInfo(Provider.BREVO, "Brevo", Kind.EMAIL_TOOL, True, "API key"),
    )
}
AVAILABLE = tuple(item for item in CATALOGUE.values() if item.available)


def info(provider: str) -> ProviderInfo:
    return CATALOGUE[provider]
