"""Errors of the delivery domain: bad input to the outbox, and how a handler reports a failure."""

from app.errors import FieldError, NotFound, ValidationFailed

__all__ = [
    "DeliveryFailed",
    "InvalidRecipient",
    "MessageNotFound",
    "PermanentFailure",
    "TemporaryFailure",
]


class InvalidRecipient(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError("email", message)])


class MessageNotFound(NotFound):
    """No such email in the outbox, or one the caller may not see (the same answer)."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"There is no email {message_id[:20]!r} in the outbox.")


class DeliveryFailed(Exception):
    """Raised by an outbox handler; any other exception counts as a `TemporaryFailure`."""


class TemporaryFailure(DeliveryFailed):
    """Try again later: after the back-off, or after `retry_after` seconds when the receiver
    said when (a webhook's `Retry-After`)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryFailed):
    """Retrying cannot help (a refused recipient, `410 Gone`): the message fails at once."""
