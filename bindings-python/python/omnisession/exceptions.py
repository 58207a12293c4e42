"""The exceptions of omnisession: one class per error code, all subclasses of SessionError.

The native module raises them with ``(message, details, cause)``; ``code`` is a class
attribute, the same string as in Rust and Node (``exc.code == "SESSION_NOT_FOUND"``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Type

__all__ = [
    "SessionError",
    "SessionInvalidError",
    "SessionNotSerializableError",
    "SessionSizeExceededError",
    "SessionGoneError",
    "SessionNotFoundError",
    "SessionExpiredError",
    "SessionLimitExceededError",
    "SessionConflictError",
    "StoreClosedError",
    "BackendUnavailableError",
    "BackendError",
    "ConfigInvalidError",
    "error_class",
]


class SessionError(Exception):
    """Base class of every omnisession error.

    ``code`` is the stable error code, ``details`` a dict of structured details (option names,
    sizes, limits, ``session_id_hash``; never a raw session id) and ``__cause__`` the exception
    this error stands for, when it came from Python code (a custom backend that raised).
    """

    code: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        details: Optional[Dict[str, Any]] = None,
        cause: Optional[BaseException] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: Dict[str, Any] = dict(details or {})
        if code is not None:
            self.code = code  # type: ignore[misc]  # an error kind newer than this package
        if cause is not None:
            self.__cause__ = cause


class SessionInvalidError(SessionError):
    """A malformed session, id or argument (``SESSION_INVALID``)."""

    code = "SESSION_INVALID"


class SessionNotSerializableError(SessionError):
    """Session data holds a value with no JSON form (``SESSION_NOT_SERIALIZABLE``).

    ``details["path"]`` says where (``/cart/0``), ``details["reason"]`` what.
    """

    code = "SESSION_NOT_SERIALIZABLE"


class SessionSizeExceededError(SessionError):
    """The session's JSON exceeds ``max_session_size`` (``SESSION_SIZE_EXCEEDED``)."""

    code = "SESSION_SIZE_EXCEEDED"


class SessionGoneError(SessionError):
    """The session has ended: the base of ``SessionNotFoundError`` and ``SessionExpiredError``
    (the core's ``ErrorKind::is_gone``), which a request cycle treats as no session."""


class SessionNotFoundError(SessionGoneError):
    """No live session of this site has that id (``SESSION_NOT_FOUND``)."""

    code = "SESSION_NOT_FOUND"


class SessionExpiredError(SessionGoneError):
    """The session has expired (``SESSION_EXPIRED``)."""

    code = "SESSION_EXPIRED"


class SessionLimitExceededError(SessionError):
    """The user has ``max_sessions_per_user`` sessions and the policy is reject."""

    code = "SESSION_LIMIT_EXCEEDED"


class SessionConflictError(SessionError):
    """The id is taken or recently deleted, or the version check failed."""

    code = "SESSION_CONFLICT"


class StoreClosedError(SessionError):
    """The store was closed (``STORE_CLOSED``)."""

    code = "STORE_CLOSED"


class BackendUnavailableError(SessionError):
    """The backend cannot be reached (``BACKEND_UNAVAILABLE``)."""

    code = "BACKEND_UNAVAILABLE"


class BackendError(SessionError):
    """The backend failed, held a corrupt record, or an internal error occurred."""

    code = "BACKEND_ERROR"


class ConfigInvalidError(SessionError):
    """An option of ``open`` is invalid (``CONFIG_INVALID``); ``details["option"]`` names it."""

    code = "CONFIG_INVALID"


_BY_CODE: Dict[str, Type[SessionError]] = {
    cls.code: cls
    for cls in (
        SessionInvalidError,
        SessionNotSerializableError,
        SessionSizeExceededError,
        SessionNotFoundError,
        SessionExpiredError,
        SessionLimitExceededError,
        SessionConflictError,
        StoreClosedError,
        BackendUnavailableError,
        BackendError,
        ConfigInvalidError,
    )
}


def error_class(code: str) -> Type[SessionError]:
    """The exception class of an error code (``SessionError`` for an unknown one)."""
    return _BY_CODE.get(code, SessionError)
