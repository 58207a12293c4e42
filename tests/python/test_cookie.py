"""The session cookie module (omnisession._cookie) against the shared vectors of
tests/conformance/cookies.json (format: tests/conformance/README.md), then what only Python has."""

from __future__ import annotations

import itertools
import json
import pathlib
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List

import pytest

from omnisession._cookie import SessionCookie
from omnisession.exceptions import ConfigInvalidError, SessionError

VECTORS = json.loads(
    (pathlib.Path(__file__).resolve().parents[1] / "conformance" / "cookies.json").read_text(encoding="utf-8")
)
PY_NAMES = {"http_only": "httponly", "same_site": "samesite", "max_age_ms": "max_age"}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
KEY = "0123456789abcdef"
ID = "Zt3vQ8mK1pX9wLr2Yb7Hc4Nf6Sd0Ja5Ue_Gi-Ok8TqW"


def py_name(name: str) -> str:
    return PY_NAMES.get(name, name)


def py_max_age(ms: Any) -> Any:
    """Milliseconds as Python spells a duration; anything else as given (to be refused)."""
    if type(ms) is int and ms >= 0:
        return timedelta(milliseconds=ms)
    if type(ms) in (int, float):
        return ms / 1000
    return ms


def py_options(options: Dict[str, Any]) -> Dict[str, Any]:
    return {py_name(k): py_max_age(v) if k == "max_age_ms" else v for k, v in options.items()}


def text(value: Any) -> Any:
    """Expands {"$repeat"} and {"$concat"} in a string field."""
    if isinstance(value, dict) and "$repeat" in value:
        return value["$repeat"] * value["times"]
    if isinstance(value, dict) and "$concat" in value:
        return "".join(text(piece) for piece in value["$concat"])
    return value


def cases(group: str) -> List[Any]:
    return [pytest.param(case, id=case["name"]) for case in VECTORS[group]]


def cookie(case: Dict[str, Any]) -> SessionCookie:
    return SessionCookie(**py_options(case["options"]))


def check(case: Dict[str, Any], run: Callable[[], Any]) -> None:
    if "error" not in case:
        assert run() == text(case["expect"])
        return
    with pytest.raises(SessionError) as info:
        run()
    assert info.value.code == case["error"]
    if "option" in case:
        assert info.value.details["option"] == py_name(case["option"])


@pytest.mark.parametrize("case", cases("sign"))
def test_sign(case: Dict[str, Any]) -> None:
    check(case, lambda: cookie(case).sign(text(case["id"])))


@pytest.mark.parametrize("case", cases("verify"))
def test_verify(case: Dict[str, Any]) -> None:
    check(case, lambda: cookie(case).verify(text(case["value"])))


@pytest.mark.parametrize("case", cases("read"))
def test_read(case: Dict[str, Any]) -> None:
    check(case, lambda: cookie(case).read(text(case["header"])))


@pytest.mark.parametrize("case", cases("serialize"))
def test_serialize(case: Dict[str, Any]) -> None:
    call: Dict[str, Any] = {"now": EPOCH + timedelta(milliseconds=case["now"])}
    if "max_age_ms" in case:  # absent: the configured one; null: none
        call["max_age"] = py_max_age(case["max_age_ms"])
    check(case, lambda: cookie(case).serialize(text(case["id"]), **call))


@pytest.mark.parametrize("case", cases("clear"))
def test_clear(case: Dict[str, Any]) -> None:
    check(case, lambda: cookie(case).clear())


@pytest.mark.parametrize("case", cases("options"))
def test_options(case: Dict[str, Any]) -> None:
    if "error" in case:
        check(case, lambda: cookie(case))
    else:
        assert isinstance(cookie(case), SessionCookie)


# What only Python has.


def test_bytes_keys_sign_as_the_str_of_the_same_bytes() -> None:
    want = SessionCookie(secret=KEY).sign(ID)
    assert SessionCookie(secret=KEY.encode()).sign(ID) == want
    assert SessionCookie(secret=bytearray(KEY.encode())).sign(ID) == want
    assert SessionCookie(secret=(b"another-key-0123456789", KEY)).verify(want) == ID


def test_a_bytearray_key_is_copied() -> None:
    key = bytearray(KEY.encode())
    c = SessionCookie(secret=key)
    before = c.sign(ID)
    key[:] = bytes(len(key))
    assert c.sign(ID) == before


@pytest.mark.parametrize("secret", [b"x" * 15, {KEY}, iter([KEY]), [KEY, 7]])
def test_bad_keys_of_python_types(secret: Any) -> None:
    with pytest.raises(ConfigInvalidError) as info:
        SessionCookie(secret=secret)
    assert info.value.details == {"option": "secret"}


@pytest.mark.parametrize("max_age, want", [
    (timedelta(milliseconds=1), 1),
    (timedelta(microseconds=1), 1),
    (timedelta(seconds=1), 1),
    (timedelta(seconds=1, milliseconds=1), 2),
    (timedelta(hours=1), 3600),
    (0, 0),
    (90, 90),
    (0.001, 1),
    (1.0, 1),
    (1.001, 2),
])
def test_max_age_takes_seconds_or_timedelta_rounded_up(max_age: Any, want: int) -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    header = SessionCookie(max_age=max_age).serialize(ID, now=now)
    assert f"; Max-Age={want}; " in header
    assert parsedate_to_datetime(header.split("Expires=")[1].split(";")[0]) == now + timedelta(seconds=want)


@pytest.mark.parametrize("max_age", [True, False, float("nan"), float("inf"), -0.001, timedelta(microseconds=-1),
                                     timedelta(days=999_999_999), "60", 2**53])
def test_bad_max_age_of_python_types(max_age: Any) -> None:
    with pytest.raises(ConfigInvalidError) as info:
        SessionCookie(max_age=max_age)
    assert info.value.details == {"option": "max_age"}
    with pytest.raises(ConfigInvalidError) as info:
        SessionCookie().serialize(ID, max_age=max_age)
    assert info.value.details == {"option": "max_age"}


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        SessionCookie("sid")  # type: ignore[call-arg]


@pytest.mark.parametrize("secret", ["short-s3cret", "ab\ud800cdefghijklmnopq", ["longer-s3cret-0123", "tiny-s3cret"],
                                    b"short-s3cret", [b"longer-s3cret-0123", b"tiny-s3cret"]])
def test_no_error_quotes_a_secret(secret: Any) -> None:
    with pytest.raises(ConfigInvalidError) as info:
        SessionCookie(secret=secret)
    err = info.value
    shown = " ".join([str(err), repr(err), repr(err.details)])
    for key in secret if isinstance(secret, list) else [secret]:
        assert (key.decode() if isinstance(key, bytes) else key) not in shown
    # Nothing chained either: a traceback shows no exception that held the key.
    assert err.__cause__ is None and err.__context__ is None


def test_verify_and_read_never_raise_whatever_the_str() -> None:
    c = SessionCookie(secret=KEY)
    pool = [".", ";", "=", " ", "\t", "é", "\ud800", "\udc00", "😀", "\0", '"', "A", ID, c.sign(ID)]
    # Every string of up to three pieces, bare and as the cookie's value.
    for n in range(4):
        for pieces in itertools.product(pool, repeat=n):
            s = "".join(pieces)
            c.verify(s)
            c.read(s)
            c.read(f"__Host-omnisession={s}")
    odds: List[Any] = [None, 42, b"x", [], {}]
    for odd in odds:
        assert c.verify(odd) is None
        assert c.read(odd) is None


def test_a_non_ascii_signature_is_refused_not_an_error() -> None:
    # The starlette adapter raised TypeError here (compare_digest on non-ASCII str): HTTP 500.
    value = SessionCookie(secret=KEY).sign(ID)
    assert SessionCookie(secret=KEY).read(f"__Host-omnisession={value[:-1]}é") is None


def test_without_now_expires_counts_from_the_clock() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    header = SessionCookie(max_age=60).serialize(ID)
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert before + timedelta(seconds=60) <= expires <= datetime.now(timezone.utc) + timedelta(seconds=60)
