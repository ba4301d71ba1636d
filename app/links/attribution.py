"""The signed hidden form field that carries a visit's attribution to the opt-in form.

It works with cookies blocked (in-app browsers often block them) and cannot be forged: the opt-in
trusts the source, campaign and variant it carries, and its issue time is the form's render time.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.signing import BadSignature, Signer

__all__ = ["ATTRIBUTION_PURPOSE", "FormAttribution", "read_attribution", "sign_attribution"]

ATTRIBUTION_PURPOSE = "attribution"


@dataclass(frozen=True, slots=True)
class FormAttribution:
    handle_id: int
    page_id: int
    route_id: int | None
    variant: str | None
    source: str
    medium: str | None
    campaign: str | None
    visit_ref: str | None
    rendered_at: int


# The fields of the token, in order; absent values are empty strings.
FIELDS = ("handle_id", "page_id", "route_id", "variant", "source", "medium", "campaign", "ref")


def sign_attribution(
    signer: Signer,
    *,
    handle_id: int,
    page_id: int,
    route_id: int | None,
    variant: str | None,
    source: str,
    medium: str | None,
    campaign: str | None,
    visit_ref: str | None,
) -> str:
    # Values come from source detection, which strips every control character (U+001F too).
    return signer.sign_fields(
        (
            str(handle_id),
            str(page_id),
            "" if route_id is None else str(route_id),
            variant or "",
            source,
            medium or "",
            campaign or "",
            visit_ref or "",
        )
    )


def read_attribution(
    signer: Signer, token: str, *, max_age_seconds: float | None = None
) -> FormAttribution | None:
    """The attribution in a genuine token, or None for a forged, expired or missing one."""
    try:
        values, issued_at = signer.unsign_fields(token, max_age_seconds=max_age_seconds)
    except BadSignature:
        return None
    if len(values) != len(FIELDS):
        return None
    handle_id, page_id, route_id, variant, source, medium, campaign, ref = values
    if not (handle_id.isdigit() and page_id.isdigit() and (route_id == "" or route_id.isdigit())):
        return None
    return FormAttribution(
        handle_id=int(handle_id),
        page_id=int(page_id),
        route_id=int(route_id) if route_id else None,
        variant=variant or None,
        source=source,
        medium=medium or None,
        campaign=campaign or None,
        visit_ref=ref or None,
        rendered_at=issued_at,
    )
