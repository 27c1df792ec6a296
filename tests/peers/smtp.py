"""A real SMTP server for tests (aiosmtpd), keeping every message it accepted.

    with SmtpSink() as sink:
        app.config.update(sink.config())        # SMTP_HOST / SMTP_PORT / MAIL_FROM
        ...
        sink.messages[0]["Subject"]            # parsed email.message.EmailMessage

It can be told to misbehave the way real servers do: `fail_data(451)` answers
the next DATA with a temporary error, `refuse(address, 550)` refuses a
recipient, `stop()` takes the server down (connection refused). With
`user`/`password` it requires AUTH (PLAIN or LOGIN; no TLS needed here).
"""

from __future__ import annotations

import socket
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

__all__ = ["SmtpSink", "free_port"]


def free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd's controller cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        code = self.sink._refused.get(address.lower())
        if code is not None:
            return f"{code} 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        with self.sink._lock:
            if self.sink._data_failures:
                code = self.sink._data_failures.pop(0)
                self.sink.rejected += 1
                kind = "4.3.0 Temporary failure, try again later" if code < 500 else "5.7.1 Message rejected"
                return f"{code} {kind}"
            message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd in a thread on 127.0.0.1 at a free port; `messages` holds what it accepted."""

    def __init__(self, *, user: str | None = None, password: str | None = None):
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = user
        self.password = password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rejected = 0
        self._refused: dict[str, int] = {}
        self._data_failures: list[int] = []
        self._lock = threading.Lock()
        self._controller = None

    # -- lifecycle --

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        kwargs = {}
        if self.user is not None:
            from aiosmtpd.smtp import AuthResult

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (getattr(auth_data, "login", b"") == self.user.encode()
                      and getattr(auth_data, "password", b"") == (self.password or "").encode())
                return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

            kwargs = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def config(self, **extra) -> dict:
        """App settings that point at this server."""
        cfg = {"SMTP_HOST": self.host, "SMTP_PORT": self.port, "SMTP_STARTTLS": False,
               "SMTP_USER": self.user or "", "SMTP_PASSWORD": self.password or "",
               "MAIL_FROM": "PieCed Billing <billing@pieced.test>", "SMTP_TIMEOUT": 5}
        cfg.update(extra)
        return cfg

    def env(self) -> dict[str, str]:
        """The same settings as environment variables (for a `pieced-admin` subprocess)."""
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.config().items()}

    # -- misbehaviour --

    def fail_data(self, code: int = 451, count: int = 1) -> None:
        """Answer the next `count` DATA commands with `code` (4xx temporary, 5xx permanent)."""
        with self._lock:
            self._data_failures.extend([code] * count)

    def refuse(self, address: str, code: int = 550) -> None:
        """Refuse RCPT TO this address."""
        self._refused[address.lower()] = code

    def accept(self, address: str) -> None:
        self._refused.pop(address.lower(), None)

    # -- reading --

    def to(self, address: str) -> list[EmailMessage]:
        """Accepted messages addressed to `address`."""
        return [m for m in self.messages if address.lower() in (m["To"] or "").lower()]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)
