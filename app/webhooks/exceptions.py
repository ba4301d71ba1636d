"""Errors of the webhooks API: an unusable target URL, unknown endpoints and deliveries, and
actions the endpoint's state does not allow."""

from app.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = [
    "DeliveryNotFound",
    "EndpointDisabled",
    "EndpointNotFound",
    "InvalidWebhookUrl",
    "PayloadGone",
    "TooManyEndpoints",
]


class InvalidWebhookUrl(ValidationFailed):
    def __init__(self, reason: str) -> None:
        message = f"This URL cannot receive webhooks: {reason}"
        super().__init__(message, errors=[FieldError("url", message)])


class EndpointNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such webhook endpoint.")


class DeliveryNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("This webhook endpoint has no such delivery.")


class EndpointDisabled(Conflict):
    def __init__(self) -> None:
        super().__init__(
            'This webhook endpoint is disabled; PATCH it with {"status": "active"} first.'
        )


class PayloadGone(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "This event's payload is no longer kept (sent over 30 days ago, or its lead was "
            "erased), so it cannot be sent again."
        )


class TooManyEndpoints(Conflict):
    def __init__(self, limit: int) -> None:
        super().__init__(f"An instance has at most {limit} webhook endpoints; delete one first.")
