"""Errors of the leads domain."""

from collections.abc import Mapping

from app.errors import FieldError, NotFound, ValidationFailed

__all__ = ["InvalidOptIn", "LeadNotFound", "LinkExpired"]


class InvalidOptIn(ValidationFailed):
    """The opt-in form has errors; `errors` maps each form field to its message."""

    def __init__(self, errors: Mapping[str, str], values: Mapping[str, str] | None = None) -> None:
        super().__init__(
            "Some fields need another look: " + ", ".join(errors),
            errors=[FieldError(field, message) for field, message in errors.items()],
        )
        self.field_messages = dict(errors)
        self.values = dict(values or {})  # what the visitor typed, to keep it in the form


class LeadNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such lead.")


class LinkExpired(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "This link is not valid any more. Sign up again on the page you came from."
        )
