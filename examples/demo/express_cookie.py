"""The Starlette middleware, reading and writing express-session's cookie format.

express-session always signs its cookie, and it does so its own way: the value is
``s:<id>.<HMAC-SHA256 in standard base64, no padding>``, then percent-encoded (``s%3A...``).
omnisession's ``SessionCookie`` signs ``<id>.<HMAC in base64url>`` and express-session rejects
anything without ``s:``, so neither of the two built-in formats is accepted by both apps. A
``SessionCookie`` with express-session's ``sign``/``verify`` makes one cookie valid in both; the
middleware builds it from its usual options (``secret_keys`` are express-session's secrets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Optional, Sequence
from urllib.parse import quote, unquote

from omnisession.starlette import SessionCookie, SessionMiddleware


class ExpressCookie(SessionCookie):
    def __init__(self, *, secret: Sequence[str], **options: Any) -> None:
        super().__init__(secret=secret, **options)  # every option checked as for the built-in format
        self.express_secrets = [s.encode() for s in secret]

    @staticmethod
    def _mac(session_id: str, secret: bytes) -> bytes:
        digest = hmac.new(secret, session_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).rstrip(b"=")

    def sign(self, session_id: str) -> str:
        # encodeURIComponent and quote(safe="") agree on every character a signed id can hold.
        return quote(f"s:{session_id}.{self._mac(session_id, self.express_secrets[0]).decode()}", safe="")

    def verify(self, value: str) -> Optional[str]:
        value = unquote(value)
        if not value.startswith("s:"):
            return None  # express-session ignores unsigned cookies; so do we
        session_id, _, mac = value[2:].rpartition(".")
        for secret in self.express_secrets:
            # As bytes: a forged value may hold anything, and compare_digest refuses non-ASCII str.
            if session_id and hmac.compare_digest(mac.encode(), self._mac(session_id, secret)):
                return session_id
        return None


class ExpressCookieSessionMiddleware(SessionMiddleware):
    cookie_class = ExpressCookie
