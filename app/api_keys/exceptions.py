"""Errors of API keys."""

from app.errors import FieldError, NotFound, ValidationFailed

__all__ = ["ApiKeyNotFound", "UnknownScope"]


class UnknownScope(ValidationFailed):
    def __init__(self, scope: str) -> None:
        message = f"Unknown scope {scope!r}."
        super().__init__(message, errors=[FieldError("scopes", message)])


class ApiKeyNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such API key.")
