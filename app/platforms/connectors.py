"""The platform connectors, by provider: the poller reads each connection with its provider's.

Adding a platform is one line here (its connector implements
`app.platforms.readings.PlatformConnector`) plus its catalogue entry and form fields.
"""

from __future__ import annotations

from app.connections.models import Provider
from app.platforms import facebook, instagram, tiktok, youtube
from app.platforms.readings import PlatformConnector

__all__ = ["CONNECTORS", "PUBLIC_URLS"]

CONNECTORS: dict[str, PlatformConnector] = {
    Provider.YOUTUBE.value: youtube.YouTubeConnector(),
    Provider.TIKTOK.value: tiktok.TikTokConnector(),
    Provider.INSTAGRAM.value: instagram.INSTAGRAM,
    Provider.FACEBOOK.value: facebook.FACEBOOK,
}
"""provider → its connector."""

PUBLIC_URLS: dict[str, str] = {
    Provider.YOUTUBE.value: youtube.PUBLIC_URL,
    Provider.TIKTOK.value: tiktok.PUBLIC_URL,
    Provider.INSTAGRAM.value: instagram.PUBLIC_API_URL,
    Provider.FACEBOOK.value: facebook.PUBLIC_API_URL,
}
"""provider → its API's public address (`LEADLINK_PROVIDER_API_URLS` overrides it; for the Graph
API the address carries the version, `…/v25.0`)."""
