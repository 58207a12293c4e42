"""The session cookie, written once for Python: option checks, HMAC-SHA256 signing with rotating
keys, reading the ``Cookie`` request header and writing ``Set-Cookie``.

Its Node twin is ``bindings-node/js/cookie.js``; ``tests/conformance/cookies.json`` holds the
vectors on which both must agree byte for byte.
"""

from __future__ import annotations

import base64
import collections.abc
import enum
import hashlib
import hmac
import math
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import List, Optional, Sequence, Tuple, Union

from .exceptions import ConfigInvalidError, SessionInvalidError

__all__ = ["SessionCookie", "Secret", "MaxAge", "cookie_values"]

Secret = Union[str, bytes, bytearray]
#: Seconds (rounded up to a whole second) or a ``timedelta``.
MaxAge = Union[int, float, timedelta]

# RFC 6265 cookie-name: an RFC 2616 token (no control characters, no separators).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The store's id shape (core/src/id.rs ``is_well_formed``): anything else can never address a
# session, and an id holds no '.', so ``id.mac`` splits one way only.
_ID = re.compile(r"[A-Za-z0-9_-]{22,128}")
# HMAC-SHA256 (32 bytes) in base64url without padding.
_MAC = re.compile(r"[A-Za-z0-9_-]{43}")
# Printable ASCII without ';' or space: nothing that could end the attribute or start another.
_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]*")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_MIN_KEY_BYTES = 16
_MAX_VALUE_BYTES = 4096
# The whole-header limit of h11 (uvicorn) and of Node's http: a larger Cookie header cannot
# reach a default server anyway, and it bounds the work spent on a hostile one.
_MAX_HEADER_BYTES = 16384
# Node's limit (Number.MAX_SAFE_INTEGER milliseconds), so both accept the same durations.
_MAX_AGE_MS = 2**53 - 1
# IMF-fixdate has four year digits: a later Expires is written as the last second of 9999.
_LAST_HTTP_DATE_S = 253402300799
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


class _Keep(enum.Enum):
    """``serialize``'s default: keep the configured ``max_age`` (``None`` means none)."""

    KEEP = enum.auto()


def _invalid(option: str, message: str) -> ConfigInvalidError:
    return ConfigInvalidError(f"CONFIG_INVALID: {message}", {"option": option})


def _keys(secret: Union[Secret, Sequence[Secret], None]) -> List[bytes]:
    """The HMAC keys as bytes; [] for an unsigned cookie. The message never quotes a key."""
    if secret is None:
        return []
    items = [secret] if isinstance(secret, (str, bytes, bytearray)) else secret
    message = (f"secret must be a str or bytes of at least {_MIN_KEY_BYTES} bytes (UTF-8), "
               "or a non-empty sequence of them")
    if not isinstance(items, collections.abc.Sequence) or not items:
        raise _invalid("secret", message)
    keys: List[bytes] = []
    for item in items:
        if isinstance(item, str):
            # A lone surrogate has no UTF-8 form (Node would key with U+FFFD): refused, and
            # checked before encoding so no exception holding the key is ever chained.
            if any("\ud800" <= c <= "\udfff" for c in item):
                raise _invalid("secret", "a secret string must be well-formed Unicode")
            key = item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray)):
            key = bytes(item)
        else:
            raise _invalid("secret", message)
        if len(key) < _MIN_KEY_BYTES:
            raise _invalid("secret", message)
        keys.append(key)
    return keys


def _max_age_seconds(value: Optional[MaxAge]) -> Optional[int]:
    """A Max-Age as whole seconds, rounded up; None for a browser-session cookie."""
    if value is None:
        return None
    message = "max_age must be non-negative seconds (int or float) or a timedelta, or None"
    if isinstance(value, timedelta):
        if not timedelta(0) <= value <= timedelta(milliseconds=_MAX_AGE_MS):
            raise _invalid("max_age", message)
        return -(-value // _SECOND)  # exact ceiling, no float in between
    # bool is an int to Python, not a duration; NaN fails the comparison.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value * 1000 <= _MAX_AGE_MS:
        raise _invalid("max_age", message)
    return math.ceil(value)


def _mac(key: bytes, session_id: str) -> str:
    digest = hmac.new(key, session_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _http_date(seconds: int) -> str:
    return format_datetime(_EPOCH + timedelta(seconds=seconds), usegmt=True)


def cookie_values(header: str, name: str) -> List[str]:
    """Every value of the cookie ``name`` in a ``Cookie`` header, in order. The sealed adapters
    hand them all to the core, which tells none from several (``duplicated``)."""
    values = []
    for part in header.split(";"):
        key, eq, raw = part.partition("=")
        # Optional whitespace is SP / HTAB only (RFC 6265), as in Node.
        if eq and key.strip(" \t") == name:
            values.append(raw.strip(" \t"))
    return values


class SessionCookie:
    """The session cookie: ``sign``/``verify`` a value, ``read`` a ``Cookie`` header, and
    ``serialize``/``clear`` a ``Set-Cookie`` header.

    ``secret`` holds HMAC keys of at least 16 bytes: the first signs, every one verifies (key
    rotation). Without it the cookie holds the plain id. A bad option raises
    ``ConfigInvalidError`` with ``details["option"]`` naming it.
    """

    def __init__(
        self,
        *,
        name: str = "__Host-omnisession",
        secret: Union[Secret, Sequence[Secret], None] = None,
        path: str = "/",
        domain: Optional[str] = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: str = "Lax",
        max_age: Optional[MaxAge] = None,
    ) -> None:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _invalid("name", "name must be a cookie name token: letters, digits and !#$%&'*+-.^_`|~")
        self._keys = _keys(secret)
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise _invalid("path", "path must start with '/' and hold only printable ASCII, without ';' or spaces")
        if domain is not None and (not isinstance(domain, str) or not _DOMAIN.fullmatch(domain)):
            raise _invalid("domain", 'domain must be a host name: ASCII letters, digits, "-", "_" and dots')
        if not isinstance(secure, bool):
            raise _invalid("secure", "secure must be a bool")
        if not isinstance(httponly, bool):
            raise _invalid("httponly", "httponly must be a bool")
        canonical = _SAME_SITE.get(samesite.lower()) if isinstance(samesite, str) else None
        if canonical is None:
            raise _invalid("samesite", "samesite must be 'Strict', 'Lax' or 'None'")
        self._max_age = _max_age_seconds(max_age)
        # Browsers drop these cookies, so the mistake would only show as "nobody stays logged in".
        if canonical == "None" and not secure:
            raise _invalid("samesite", "SameSite=None needs secure=True")
        # Browsers match the prefixes case-insensitively (RFC 6265bis), so the rules do too.
        lower = name.lower()
        if lower.startswith("__secure-") and not secure:
            raise _invalid("name", "a __Secure- cookie needs secure=True")
        if lower.startswith("__host-") and (not secure or path != "/" or domain is not None):
            raise _invalid("name", "a __Host- cookie needs secure=True, path '/' and no domain; "
                                   "use a name without the prefix otherwise")
        self._name = name
        self._path = path
        self._domain = domain
        self._secure = secure
        self._httponly = httponly
        self._samesite = canonical

    def sign(self, session_id: str) -> str:
        """The cookie value of a session id: the id, then ``.`` and its HMAC when signed."""
        if not isinstance(session_id, str) or not _ID.fullmatch(session_id):
            raise SessionInvalidError("SESSION_INVALID: not a session id", {"argument": "id"})
        return f"{session_id}.{_mac(self._keys[0], session_id)}" if self._keys else session_id

    def verify(self, value: str) -> Optional[str]:
        """The session id of a cookie value, or None when malformed or not signed by a key."""
        if not isinstance(value, str):  # whatever a header parser hands over: never an error
            return None
        if not self._keys:
            return value if _ID.fullmatch(value) else None
        session_id, dot, given = value.partition(".")
        if not dot or not _ID.fullmatch(session_id) or not _MAC.fullmatch(given):
            return None
        # The encoded MACs are compared, as ASCII bytes (compare_digest refuses non-ASCII str):
        # base64url has several spellings of the last character of 32 bytes, only ours counts.
        given_bytes = given.encode("ascii")
        for key in self._keys:
            if hmac.compare_digest(_mac(key, session_id).encode("ascii"), given_bytes):
                return session_id
        return None

    def read(self, header: Optional[str]) -> Optional[str]:
        """The session id in a ``Cookie`` request header, or None (absent, duplicated,
        oversized, forged)."""
        # Bytes are at least code points, so the cheap test first. surrogatepass: a lone
        # surrogate counts 3 bytes, as in Node, instead of raising.
        if (not isinstance(header, str) or len(header) > _MAX_HEADER_BYTES
                or len(header.encode("utf-8", "surrogatepass")) > _MAX_HEADER_BYTES):
            return None
        values = cookie_values(header, self._name)
        # Two cookies of one name (another path, a sibling subdomain planting one): which one
        # the browser meant is unknowable, so neither is trusted. A longer value is refused
        # before any HMAC is computed (a non-ASCII one fails verify).
        if len(values) != 1 or len(values[0]) > _MAX_VALUE_BYTES:
            return None
        return self.verify(values[0])

    def serialize(
        self,
        session_id: str,
        *,
        max_age: Union[MaxAge, None, _Keep] = _Keep.KEEP,
        now: Optional[datetime] = None,
    ) -> str:
        """The ``Set-Cookie`` value carrying a session id.

        ``max_age`` overrides the configured one (``None``: a browser-session cookie); ``now``
        (an aware datetime, default the current time) dates ``Expires``.
        """
        value = self.sign(session_id)
        seconds = self._max_age if isinstance(max_age, _Keep) else _max_age_seconds(max_age)
        if seconds is None:
            return self._set_cookie(value, None)
        start = (datetime.now(timezone.utc) if now is None else now) - _EPOCH
        return self._set_cookie(value, (seconds, min(start // _SECOND + seconds, _LAST_HTTP_DATE_S)))

    def clear(self) -> str:
        """The ``Set-Cookie`` value that deletes the cookie."""
        return self._set_cookie("", (0, 0))

    def _set_cookie(self, value: str, expiry: Optional[Tuple[int, int]]) -> str:
        """``expiry``: (Max-Age, Expires in seconds since the epoch), or None for neither."""
        parts = [f"{self._name}={value}", f"Path={self._path}"]
        # Expires too: a client that ignores Max-Age would otherwise keep the cookie for the session.
        if expiry is not None:
            parts += [f"Max-Age={expiry[0]}", f"Expires={_http_date(expiry[1])}"]
        if self._domain is not None:
            parts.append(f"Domain={self._domain}")
        if self._secure:
            parts.append("Secure")
        if self._httponly:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self._samesite}")
        return "; ".join(parts)
