"""Errors of owner accounts."""

from app.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = ["InvalidEmail", "UserExists", "UserNotFound", "WeakPassword"]


class InvalidEmail(ValidationFailed):
    def __init__(self) -> None:
        message = "Enter an email address like name@example.com."
        super().__init__(message, errors=[FieldError("email", message)])


class WeakPassword(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError("password", message)])


class UserExists(Conflict):
    def __init__(self, email: str) -> None:
        super().__init__(f"There is already an account for {email}.")


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such account.")
