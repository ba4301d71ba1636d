"""Errors of the admin UI; each renders as a short HTML page through the one error handler."""

from app.errors import AppError, Forbidden, NotFound

__all__ = ["AdminOnly", "CsrfRejected", "NotSignedIn", "SignInRequired"]

LOGIN_PATH = "/admin/login"


class SignInRequired(AppError):
    """A page was asked for without a valid session: send the browser to the sign-in form."""

    status_code = 303
    title = "Sign in"

    def __init__(self) -> None:
        super().__init__("Please sign in to continue.", headers={"Location": LOGIN_PATH})


class NotSignedIn(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "You are not signed in, or your session has ended, so nothing was changed. "
            "Sign in again and repeat what you were doing."
        )


class CsrfRejected(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "This form has expired or was not sent from this site, so nothing was changed. "
            "Go back, reload the page and send the form again."
        )


class AdminOnly(NotFound):
    """An owner asked for an admin-only page (accounts): it does not exist for them."""

    def __init__(self) -> None:
        super().__init__("There is no such page.")
