"""Errors of connections: an unknown one (or one out of sight), and a form that cannot work."""

from app.errors import FieldError, NotFound, ValidationFailed

__all__ = ["ConnectionNotFound", "InvalidConnection"]


class ConnectionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such connection.")


class InvalidConnection(ValidationFailed):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, errors=[FieldError(field, message)])
