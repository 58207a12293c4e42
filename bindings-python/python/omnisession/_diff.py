"""What changed in a session's data, as a per-key patch: the adapters (Starlette, Django) save
only the top-level keys a request changed, so parallel requests that change different keys
both win."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple


def same(a: Any, b: Any) -> bool:
    """JSON equality that tells 1, 1.0 and True apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """The keys to set (new or changed) and to unset (gone) to turn ``before`` into ``after``."""
    set_ = {k: v for k, v in after.items() if k not in before or not same(v, before[k])}
    unset = [k for k in before if k not in after]
    return set_, unset
