"""Errors of the one-link domain."""

from app.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = ["HandleNotFound", "HandleTaken", "InvalidHandle", "InvalidRoute", "RouteNotFound"]


class InvalidHandle(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError("handle", message)])


class HandleTaken(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"The handle {name!r} is already taken.")


class HandleNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"There is no handle {name!r}.")


class InvalidRoute(ValidationFailed):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, errors=[FieldError(field, message)])


class RouteNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such route.")
