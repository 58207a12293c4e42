"""Type stubs of the compiled module (checked by ``python -m mypy.stubtest omnisession._native``)."""

from datetime import datetime, timedelta
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Literal,
    Tuple,
    TypedDict,
    final,
    Union,
)

from typing_extensions import NotRequired

from .types import JSON as _JSON
from .types import Duration as _Duration
from .types import Session as _Session
from .types import SessionPage as _SessionPage
from .types import UserId as _UserId
from .types import Violation as _Violation

# A write's new expiry instead of a ttl: an instant (one in the past = expired) or never.
_ExpiresAt = Union[datetime, Literal["never"]]

@final
class AsyncStore:
    @staticmethod
    def open(**options: Any) -> Awaitable[AsyncStore]: ...
    def create(
        self,
        user_id: Optional[_UserId] = None,
        *,
        data: Optional[Mapping[str, _JSON]] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
        id: Optional[str] = None,
        ip_address: Optional[str] = None,
        user_agent: Optional[str] = None,
        organization_id: Optional[str] = None,
    ) -> Awaitable[_Session]: ...
    def get(self, id: str) -> Awaitable[Optional[_Session]]: ...
    def update(self, session: Mapping[str, Any]) -> Awaitable[_Session]: ...
    def patch(
        self,
        id: str,
        set: Optional[Mapping[str, _JSON]] = None,
        unset: Optional[Iterable[str]] = None,
        *,
        version: Optional[int] = None,
        user_id: Optional[_UserId] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
    ) -> Awaitable[_Session]: ...
    def touch(
        self,
        id: str,
        *,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
    ) -> Awaitable[_Session]: ...
    def get_sliding(self, id: str, rolling: _Duration) -> Awaitable[Optional[_Session]]: ...
    def login(
        self,
        user_id: _UserId,
        *,
        from_id: Optional[str] = None,
        set: Optional[Mapping[str, _JSON]] = None,
        unset: Optional[Iterable[str]] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
        ip_address: Optional[str] = None,
        user_agent: Optional[str] = None,
        organization_id: Optional[str] = None,
    ) -> Awaitable[_Session]: ...
    def upsert(self, session: Mapping[str, Any]) -> Awaitable[_Session]: ...
    def rotate(self, id: str) -> Awaitable[_Session]: ...
    def delete(self, id: str) -> Awaitable[None]: ...
    def delete_at_rest(self, id: str) -> Awaitable[None]: ...
    def id_at_rest(self, id: str) -> str: ...
    def delete_by_user_id(self, user_id: _UserId) -> Awaitable[int]: ...
    def list_by_user_id(self, user_id: _UserId) -> Awaitable[List[_Session]]: ...
    def list(
        self, cursor: Optional[str] = None, limit: Optional[int] = None
    ) -> Awaitable[_SessionPage]: ...
    def count(self) -> Awaitable[int]: ...
    def clear(self) -> Awaitable[int]: ...
    def cleanup(self) -> Awaitable[int]: ...
    def close(self) -> Awaitable[None]: ...
    def __aenter__(self) -> Awaitable[AsyncStore]: ...
    def __aexit__(self, *_exc: object) -> Awaitable[None]: ...

@final
class Store:
    @staticmethod
    def open(**options: Any) -> Store: ...
    def create(
        self,
        user_id: Optional[_UserId] = None,
        *,
        data: Optional[Mapping[str, _JSON]] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
        id: Optional[str] = None,
        ip_address: Optional[str] = None,
        user_agent: Optional[str] = None,
        organization_id: Optional[str] = None,
    ) -> _Session: ...
    def get(self, id: str) -> Optional[_Session]: ...
    def update(self, session: Mapping[str, Any]) -> _Session: ...
    def patch(
        self,
        id: str,
        set: Optional[Mapping[str, _JSON]] = None,
        unset: Optional[Iterable[str]] = None,
        *,
        version: Optional[int] = None,
        user_id: Optional[_UserId] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
    ) -> _Session: ...
    def touch(
        self,
        id: str,
        *,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
    ) -> _Session: ...
    def get_sliding(self, id: str, rolling: _Duration) -> Optional[_Session]: ...
    def login(
        self,
        user_id: _UserId,
        *,
        from_id: Optional[str] = None,
        set: Optional[Mapping[str, _JSON]] = None,
        unset: Optional[Iterable[str]] = None,
        ttl: Optional[_Duration] = None,
        expires_at: Optional[_ExpiresAt] = None,
        ip_address: Optional[str] = None,
        user_agent: Optional[str] = None,
        organization_id: Optional[str] = None,
    ) -> _Session: ...
    def upsert(self, session: Mapping[str, Any]) -> _Session: ...
    def rotate(self, id: str) -> _Session: ...
    def delete(self, id: str) -> None: ...
    def delete_at_rest(self, id: str) -> None: ...
    def id_at_rest(self, id: str) -> str: ...
    def delete_by_user_id(self, user_id: _UserId) -> int: ...
    def list_by_user_id(self, user_id: _UserId) -> List[_Session]: ...
    def list(self, cursor: Optional[str] = None, limit: Optional[int] = None) -> _SessionPage: ...
    def count(self) -> int: ...
    def clear(self) -> int: ...
    def cleanup(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *_exc: object) -> None: ...

@final
class ManualClock:
    def __new__(cls, now: Optional[datetime] = None) -> ManualClock: ...
    def advance(self, delta: _Duration) -> None: ...
    def set(self, now: datetime) -> None: ...
    def now(self) -> datetime: ...

@final
class MemoryBackend:
    def __new__(cls) -> MemoryBackend: ...

# Why a sealed cookie value gave no session.
_Reason = Literal["malformed", "tampered", "expired", "oversized", "duplicated"]

class _SealedSession(TypedDict):
    user_id: Optional[str]
    data: Dict[str, _JSON]
    created_at: datetime
    expires_at: Optional[datetime]

# session and reason both None: the request sent no value (``open([])``). ``stale`` (only
# present, True, when so): it opened under another key than the first; re-seal it.
class _SealedOpened(TypedDict):
    session: Optional[_SealedSession]
    reason: Optional[_Reason]
    stale: NotRequired[bool]

class _SeedsOpened(TypedDict):
    json: _JSON
    reason: Optional[_Reason]

@final
class Sealer:
    def __new__(
        cls,
        keys: Iterable[Tuple[str, Union[bytes, bytearray]]],
        cookie_name: str,
        max_cookie_bytes: Optional[int] = 4096,
        on_violation: Optional[Callable[[_Violation], Any]] = None,
    ) -> Sealer: ...
    def seal(
        self,
        user_id: Optional[_UserId] = None,
        *,
        data: Optional[Mapping[str, _JSON]],
        created_at: Optional[datetime] = None,
        expires_at: Optional[datetime] = None,
    ) -> str: ...
    # A str, or every value of the cookie in one request (none, one, several = "duplicated").
    def open(
        self, value: Union[str, List[str], Tuple[str, ...]], now: Optional[datetime] = None
    ) -> _SealedOpened: ...
    @property
    def cookie_name(self) -> str: ...
    @property
    def max_cookie_bytes(self) -> int: ...

@final
class SeedsOpener:
    def __new__(cls, key: Union[bytes, bytearray]) -> SeedsOpener: ...
    def open(self, value: str) -> _SeedsOpened: ...

def hash_session_id(id: str) -> str: ...
def _shutdown() -> None: ...
def _after_fork() -> None: ...
def _flush_callbacks(timeout: float = 5.0) -> bool: ...
def _panic_for_tests(asynchronous: bool = False) -> Any: ...
def _cli_run(argv: List[str]) -> int: ...

_BUILD_PROFILE: str


__all__: Sequence[str] = [
    "AsyncStore",
    "Store",
    "ManualClock",
    "MemoryBackend",
    "Sealer",
    "SeedsOpener",
    "hash_session_id",
    "_shutdown",
    "_after_fork",
    "_flush_callbacks",
    "_panic_for_tests",
    "_cli_run",
    "_BUILD_PROFILE",
]
