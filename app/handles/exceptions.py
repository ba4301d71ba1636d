"""Errors about handles: a name that breaks the rules, one already taken, one not found."""

from app.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = ["HandleNotFound", "HandleTaken", "InvalidHandle"]


class InvalidHandle(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError("handle", message)])


class HandleTaken(Conflict):
    def __init__(self, name: str) -> None:
        message = f"The handle {name!r} is already taken."
        super().__init__(message, errors=[FieldError("name", message)])


class HandleNotFound(NotFound):
    """No such handle, or one out of the API key's sight; `field` names the input that named
    it (an API filter or body), absent for a handle named in the URL."""

    def __init__(self, name: str, *, field: str | None = None) -> None:
        message = f"There is no handle {name!r}."
        super().__init__(message, errors=[FieldError(field, message)] if field else ())
