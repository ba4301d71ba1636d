"""Errors of the report domain."""

from app.errors import FieldError, ValidationFailed

__all__ = ["InvalidReportInput"]


class InvalidReportInput(ValidationFailed):
    """A report or social-metric input that cannot be used; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, errors=[FieldError(field, message)])
