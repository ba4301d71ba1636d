"""Errors of the one link's routing rules (handle errors live in `app.handles.exceptions`)."""

from app.errors import FieldError, NotFound, ValidationFailed

__all__ = ["InvalidRoute", "RouteNotFound"]


class InvalidRoute(ValidationFailed):
    """A route that cannot be; `fields` names the inputs at fault (several when they clash)."""

    def __init__(self, field: str, message: str, *fields: str) -> None:
        super().__init__(message, errors=[FieldError(name, message) for name in (field, *fields)])


class RouteNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such route.")
