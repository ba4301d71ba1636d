"""Signed single-purpose tokens in the links of emails and pages: confirm, unsubscribe, gift,
thanks. Each purpose has its own key (see app.signing), so one can never stand in for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.signing import BadSignature, Signer

__all__ = ["LeadLinks", "LeadTokens"]

DAY = 24 * 3600
CONFIRM_MAX_AGE = 14 * DAY
GIFT_MAX_AGE = 30 * DAY
THANKS_MAX_AGE = 3600


class LeadTokens:
    def __init__(self, secret_key: str) -> None:
        self._confirm = Signer(secret_key, "confirm")
        self._unsubscribe = Signer(secret_key, "unsubscribe")
        self._gift = Signer(secret_key, "gift")
        self._thanks = Signer(secret_key, "thanks")

    def confirm(self, lead_id: int) -> str:
        return self._confirm.sign_fields((str(lead_id),))

    def read_confirm(self, token: str) -> int | None:
        return _lead_id(self._confirm, token, CONFIRM_MAX_AGE)

    def read_confirm_link(self, token: str) -> tuple[int, datetime] | None:
        """The lead and the link's issue time (whole seconds, UTC): a confirmation link older
        than an unsubscribe must not undo it."""
        lead_id = _lead_id(self._confirm, token, CONFIRM_MAX_AGE)
        if lead_id is None:
            return None
        _values, issued = self._confirm.unsign_fields(token)
        return lead_id, datetime.fromtimestamp(issued, UTC)

    def unsubscribe(self, lead_id: int) -> str:
        return self._unsubscribe.sign_fields((str(lead_id),))

    def read_unsubscribe(self, token: str) -> int | None:
        # Unsubscribe links never expire: an old email must still let a person out.
        return _lead_id(self._unsubscribe, token, None)

    def gift(self, lead_id: int) -> str:
        return self._gift.sign_fields((str(lead_id),))

    def read_gift(self, token: str) -> int | None:
        return _lead_id(self._gift, token, GIFT_MAX_AGE)

    def thanks(self, page_id: int) -> str:
        return self._thanks.sign_fields((str(page_id),))

    def read_thanks(self, token: str) -> int | None:
        return _lead_id(self._thanks, token, THANKS_MAX_AGE)


@dataclass(frozen=True, slots=True)
class LeadLinks:
    """The absolute URLs a lead receives, each carrying its own signed token."""

    base_url: str
    tokens: LeadTokens

    def confirm(self, lead_id: int) -> str:
        return f"{self.base_url}/c/{self.tokens.confirm(lead_id)}"

    def unsubscribe(self, lead_id: int) -> str:
        return f"{self.base_url}/u/{self.tokens.unsubscribe(lead_id)}"

    def gift(self, lead_id: int) -> str:
        return f"{self.base_url}/g/{self.tokens.gift(lead_id)}"


def _lead_id(signer: Signer, token: str, max_age: float | None) -> int | None:
    try:
        values, _issued = signer.unsign_fields(token, max_age_seconds=max_age)
    except BadSignature:
        return None
    if len(values) != 1 or not values[0].isdigit():
        return None
    return int(values[0])
