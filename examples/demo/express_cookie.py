"""The Starlette middleware, reading and writing express-session's cookie format.

express-session always signs its cookie, and it does so its own way: the value is
``s:<id>.<HMAC-SHA256 in standard base64, no padding>``, then percent-encoded (``s%3A...``).
The middleware's own signing (``secret_keys``) is ``<id>.<HMAC in base64url>`` and express-session
rejects anything without ``s:``, so neither of the two built-in formats is accepted by both apps.
Overriding ``encode``/``decode`` with express-session's scheme makes one cookie valid in both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Optional, Sequence
from urllib.parse import quote, unquote

from omnisession import AsyncStore
from omnisession.starlette import SessionMiddleware


class ExpressCookieSessionMiddleware(SessionMiddleware):
    def __init__(self, app: Any, *, store: AsyncStore, express_secrets: Sequence[str], cookie_name: str, secure: bool) -> None:
        # No secret_keys for the base class: signing is done here instead.
        super().__init__(app, store=store, cookie_name=cookie_name, secure=secure)
        self.express_secrets = [s.encode() for s in express_secrets]

    @staticmethod
    def _mac(session_id: str, secret: bytes) -> str:
        digest = hmac.new(secret, session_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode().rstrip("=")

    def encode(self, session_id: str) -> str:
        # encodeURIComponent and quote(safe="") agree on every character a signed id can hold.
        return quote(f"s:{session_id}.{self._mac(session_id, self.express_secrets[0])}", safe="")

    def decode(self, value: str) -> Optional[str]:
        value = unquote(value)
        if not value.startswith("s:"):
            return None  # express-session ignores unsigned cookies; so do we
        session_id, _, mac = value[2:].rpartition(".")
        for secret in self.express_secrets:
            if session_id and hmac.compare_digest(mac, self._mac(session_id, secret)):
                return session_id
        return None
