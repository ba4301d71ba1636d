"""A real SMTP server for tests: aiosmtpd in a thread on 127.0.0.1, collecting what it receives.

server = SmtpServer()            # picks a free port; nothing listens until start()
await server.start()
settings = make_settings(..., **server.settings())
...
[message] = server.messages      # parsed email.message.EmailMessage objects
await server.stop()
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: list[str]
    ) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, _session: Any, envelope: Any
    ) -> str:
        self.server.record(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server to send to; `refuse` holds addresses answered with 550 at RCPT."""

    def __init__(self, *, port: int | None = None, login: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.login = login
        self.refuse: set[str] = set()
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            contents = [content for _, _, content in self.envelopes]
        return [
            email.message_from_bytes(content, policy=email.policy.default) for content in contents
        ]

    def record(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        with self._lock:
            self.envelopes.append((mail_from, rcpt_tos, content))

    def settings(self) -> dict[str, Any]:
        """Settings overrides that send to this server."""
        overrides: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": "none",
            "mail_from": "leadlink <noreply@leadlink.test>",
        }
        if self.login:
            overrides["smtp_username"], overrides["smtp_password"] = self.login
        return overrides

    def _authenticate(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        assert self.login is not None
        expected = LoginPassword(self.login[0].encode(), self.login[1].encode())
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=data == expected, handled=False)

    async def start(self) -> None:
        options: dict[str, Any] = {}
        if self.login:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(
            _Collector(self),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="smtp.leadlink.test",
            **options,
        )
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None
