"""The shapes the store returns and passes to callbacks, for type checkers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Dict, List, Optional, TypedDict, Union

__all__ = ["JSON", "Duration", "UserId", "Session", "SessionPage", "Violation"]

JSON = Union[None, bool, int, float, str, List["JSON"], Dict[str, "JSON"]]
"""A value session data may hold (dict and list exactly; no subclasses)."""

Duration = Union[timedelta, int, float]
"""A duration: a ``timedelta`` or a number of seconds (whole milliseconds)."""

UserId = Union[str, int]
"""A user id: a str, or an int stored as its decimal string."""


class Session(TypedDict):
    """A session as the store returns it: wire field names, UTC-aware datetimes."""

    id: str
    user_id: Optional[str]
    site_id: str
    organization_id: Optional[str]
    data: Dict[str, JSON]
    created_at: datetime
    updated_at: datetime
    last_accessed_at: datetime
    expires_at: Optional[datetime]
    ip_address: str
    user_agent: str
    version: int


class SessionPage(TypedDict):
    """One page of ``list``: pass ``cursor`` back for the next one (None after the last)."""

    sessions: List[Session]
    cursor: Optional[str]


class Violation(TypedDict):
    """The event ``on_violation`` receives (never a raw session id)."""

    type: str
    session_id_hash: Optional[str]
    user_id: Optional[str]
    site_id: str
    size: int
    limit: int
    message: str
    at: datetime
