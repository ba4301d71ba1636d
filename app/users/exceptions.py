"""Errors of owner accounts."""

from app.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = [
    "CannotRemoveYourself",
    "InvalidEmail",
    "InvitationInvalid",
    "LastAdmin",
    "UserExists",
    "UserNotFound",
    "WeakPassword",
]


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


class LastAdmin(Conflict):
    def __init__(self) -> None:
        message = (
            "This is the last admin account: make another account an admin first, so someone "
            "can still manage accounts."
        )
        super().__init__(message, errors=[FieldError("role", message)])


class CannotRemoveYourself(Conflict):
    def __init__(self) -> None:
        super().__init__("You cannot remove your own account; ask another admin to.")


class InvitationInvalid(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "This invitation link does not work: it was used already, it is older than 7 "
            "days, or a newer link replaced it. Ask your admin for a new one."
        )
