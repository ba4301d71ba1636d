"""Errors of idempotent writes; both name the `Idempotency-Key` header."""

from app.errors import Conflict, FieldError, ValidationFailed

__all__ = ["HEADER", "IdempotencyKeyInFlight", "IdempotencyKeyInvalid"]

HEADER = "Idempotency-Key"


class IdempotencyKeyInvalid(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError(HEADER, message)])


class IdempotencyKeyInFlight(Conflict):
    def __init__(self) -> None:
        super().__init__(
            f"A request with this {HEADER} is still being processed; retry in a moment.",
            errors=[FieldError(HEADER, "still being processed")],
            headers={"Retry-After": "1"},
        )
