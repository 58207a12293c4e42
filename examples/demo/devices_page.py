"""The "active devices" page of the FastAPI app, the twin of devices-page.mjs (the Express app's):
the same HTML from the same store, and handles that agree, so either app can revoke a device
the other signed in. Plain forms: POST, then a 303 back to GET /devices."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from datetime import datetime
from typing import Any, Iterable, Optional, Sequence

# Edge says Chrome too, Chrome says Safari: the first match wins.
_BROWSERS = [(r"Edg/", "Edge"), (r"OPR/", "Opera"), (r"Firefox/", "Firefox"), (r"Chrom(e|ium)/", "Chrome"),
             (r"Safari/", "Safari"), (r"^curl/", "curl")]
_SYSTEMS = [(r"iPhone", "an iPhone"), (r"iPad", "an iPad"), (r"Android", "Android"), (r"Windows", "Windows"),
            (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux")]


def handle_of(secret: str, session_id: str) -> str:
    """A session's handle in the page: HMAC-SHA256 of its id under the app's secret, never the id
    (an id in the HTML is a cookie to steal). It maps back only among the signed-in user's own
    sessions, so a handle cannot reach anyone else's; without the secret none can be made."""
    mac = hmac.new(secret.encode(), f"devices-page handle\0{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:32]


def session_of_handle(secret: str, sessions: Iterable[Any], handle: Optional[str]) -> Optional[Any]:
    if not isinstance(handle, str) or len(handle) != 32:
        return None
    for s in sessions:
        if hmac.compare_digest(handle_of(secret, s["id"]).encode(), handle.encode("utf-8", "replace")):
            return s
    return None


def describe_device(user_agent: str) -> str:
    """A User-Agent in plain words: "Firefox on Linux"."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for pattern, name in _BROWSERS if re.search(pattern, user_agent)), "A browser")
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, user_agent)), None)
    return f"{browser} on {system}" if system else browser


def valid_user(user: Optional[str]) -> bool:
    return isinstance(user, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", user) is not None


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _when(at: Optional[datetime]) -> str:
    return "never" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def _page(app: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Active devices ({_e(app)})</title>
<style>body{{font-family:sans-serif;max-width:44em;margin:2em auto}}li{{margin:.8em 0;padding:.6em;border:1px solid #ccc;border-radius:6px}}
li.this-device{{border-color:#2a7;background:#efe}}form{{display:inline}}.meta{{color:#555;font-size:.9em}}</style></head>
<body><h1>Active devices</h1><p class="meta">served by the {_e(app)} app</p>
{body}
</body></html>"""


def sign_in_page(app: str, error: str = "") -> str:
    notice = f'<p class="error">{_e(error)}</p>' if error else ""
    return _page(app, f"""{notice}<form id="sign-in" method="post" action="/devices/login">
<label>User <input name="user" autocomplete="username" required></label> <button>Sign in</button></form>""")


def devices_page(app: str, secret: str, user: str, sessions: Sequence[Any], current_id: Optional[str]) -> str:
    items = []
    for s in sessions:
        mine = s["id"] == current_id
        action = ('<strong class="marker">this device</strong>' if mine else
                  f'<form method="post" action="/devices/revoke"><input type="hidden" name="device" '
                  f'value="{handle_of(secret, s["id"])}"><button>Sign out this device</button></form>')
        origin = f" · from {_e(s['ip_address'])}" if s["ip_address"] else ""
        items.append(f"""<li class="device{' this-device' if mine else ''}"><span class="name">{_e(describe_device(s["user_agent"]))}</span> {action}
<div class="meta">signed in {_when(s["created_at"])} · last seen {_when(s["last_accessed_at"])}{origin}</div></li>""")
    plural = "" if len(sessions) == 1 else "s"
    return _page(app, f"""<p>Signed in as <strong id="user">{_e(user)}</strong>: {len(sessions)} active session{plural}.</p>
<ul id="devices">{chr(10).join(items)}</ul>
<form id="revoke-others" method="post" action="/devices/revoke-others"><button>Sign out all other devices</button></form>
<form id="sign-out" method="post" action="/devices/logout"><button>Sign out</button></form>""")
