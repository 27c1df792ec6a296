"""bexio: its chart of accounts and its manual entries (bookings), over bexio's REST API.

A thin client over `requests`. bexio's API takes its own internal account ids, so
`account_ids()` maps account numbers to them (`GET /2.0/accounts`); `manual_entries()`
lists what is booked (`GET /3.0/accounting/manual_entries`) and `create_manual_entry()`
books one (`POST /3.0/accounting/manual_entries`). Both lists are read page by page
with `limit` / `offset` until bexio answers an empty page, so a page that bexio cuts
shorter than asked never ends the list early (a missed entry would be booked twice).

Every failure raises :class:`BexioError`, whose message names bexio, what failed, the
HTTP status and bexio's own error message. Reads are retried on connection errors,
timeouts, 429 and 5xx. A booking is retried only when bexio cannot have booked it (429,
or a connection that was never opened): after a 5xx or a timeout bexio may have booked
it, so the error says so (``ambiguous``) and the caller decides, by listing again,
whether it is there.

Settings: `BEXIO_API_URL` (default https://api.bexio.com) and `BEXIO_TOKEN` (a bexio
personal access token; none: bexio is "not configured", a state the UI shows, not a
crash); `BEXIO_TIMEOUT` (seconds, default 30) and `BEXIO_RETRY_DELAY` (first back-off in
seconds, default 0.5) can be set in the app's config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from ..json_amounts import json_dumps

__all__ = ["ACCOUNTS_PATH", "MANUAL_ENTRIES_PATH", "NOT_CONFIGURED", "BexioClient", "BexioError",
           "BexioNotConfigured", "client_from_config", "is_configured"]

log = logging.getLogger(__name__)

ACCOUNTS_PATH = "/2.0/accounts"
MANUAL_ENTRIES_PATH = "/3.0/accounting/manual_entries"
DEFAULT_URL = "https://api.bexio.com"
MAYBE_BOOKED = "; bexio may have booked it anyway: run the push again, which skips what is already in bexio"
NOT_CONFIGURED = ("bexio is not configured: set BEXIO_TOKEN (a bexio personal access token) "
                  "to post the journal to bexio")


class BexioError(Exception):
    """bexio failed or refused a request; the message names bexio, what failed and what to do.

    `ambiguous` is True when bexio may have done what was asked anyway (a 5xx or a timeout
    after a booking was sent): list again to know.
    """

    def __init__(self, message: str, *, status: int | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.status = status
        self.ambiguous = ambiguous


class BexioNotConfigured(BexioError):
    """No BEXIO_TOKEN: posting to bexio is switched off."""


class _Retryable(Exception):
    """A 429 or 5xx answer, worth another try."""

    def __init__(self, response: requests.Response, doing: str):
        self.response = response
        self.status = response.status_code
        self.doing = doing
        self.retry_after = _retry_after(response)
        super().__init__(f"HTTP {self.status}")


def _retry_after(response: requests.Response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: fall back to our own back-off
        return None


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached bexio (the connection was never opened)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _bexio_message(response: requests.Response, limit: int = 300) -> str:
    """bexio's own words from an error answer (`message`, and `errors` when it lists them)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        if body.get("message"):
            parts.append(str(body["message"]).strip())
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e.get("message") or e) if isinstance(e, dict) else str(e) for e in errors]
        elif isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
    text = "; ".join(p for p in parts if p) or " ".join((response.text or "").split()) or response.reason or ""
    return text[:limit] + ("..." if len(text) > limit else "")


class BexioClient:
    """One bexio company, reached with a personal access token (``Authorization: Bearer``).

    ``retries`` is the number of further attempts after a transient failure; waits grow from
    ``backoff`` seconds, doubling, and follow bexio's ``Retry-After`` when it sends one (at
    most ``max_wait``). Lists are read ``page_size`` items at a time.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                 max_wait: float = 30.0, page_size: int = 500, max_pages: int = 10_000,
                 session: requests.Session | None = None):
        if not token:
            raise BexioNotConfigured(NOT_CONFIGURED)
        self.base_url = (base_url or DEFAULT_URL).rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self._token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_wait = max_wait
        self.page_size = page_size
        self.max_pages = max_pages
        self._own_session = session is None
        self.session = session or requests.Session()

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> BexioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the token
        return f"BexioClient({self.base_url!r})"

    # -- public --

    def accounts(self) -> list[dict]:
        """Every account of the chart (all pages of GET /2.0/accounts): id, account_no, name, is_active, ..."""
        return self._list(ACCOUNTS_PATH, "listing the accounts")

    def account_ids(self) -> dict[str, int]:
        """Account number → bexio's account id, for every account of the chart."""
        ids: dict[str, int] = {}
        for account in self.accounts():
            number, account_id = account.get("account_no"), account.get("id")
            if number is None or isinstance(account_id, bool) or not isinstance(account_id, int):
                raise BexioError(f"bexio at {self.host} listed an account without account_no or id: {account!r:.200}")
            ids[str(number).strip()] = account_id
        return ids

    def manual_entries(self) -> list[dict]:
        """Every manual entry (all pages of GET /3.0/accounting/manual_entries), each with its entries[]."""
        return self._list(MANUAL_ENTRIES_PATH, "listing the manual entries")

    def create_manual_entry(self, body: Mapping[str, Any]) -> dict:
        """Book one manual entry (POST /3.0/accounting/manual_entries); returns it as bexio stored it."""
        doing = f"booking manual entry {body.get('reference_nr') or ''}".strip()
        response = self._request("POST", MANUAL_ENTRIES_PATH, doing, data=json_dumps(body).encode("utf-8"),
                                 retry_on=_never_sent_or_rate_limited)
        created = self._json(response, doing)
        if not isinstance(created, dict) or "id" not in created:
            raise BexioError(f"bexio at {self.host} answered {doing} without the entry's id: {created!r:.200}",
                             status=response.status_code, ambiguous=True)
        return created

    # -- internals --

    def _list(self, path: str, doing: str) -> list[dict]:
        items: list[dict] = []
        seen: set = set()
        offset = 0
        for _page in range(self.max_pages):
            params = {"limit": str(self.page_size), "offset": str(offset)}
            page = self._json(self._request("GET", path, doing, params=params), doing)
            if not isinstance(page, list):
                raise BexioError(f"bexio at {self.host} answered {doing} with something other than a list: "
                                 f"{str(page)[:200]!r}; check BEXIO_API_URL")
            if not page:
                return items
            ids = {item.get("id") for item in page if isinstance(item, dict) and item.get("id") is not None}
            if ids and ids <= seen:
                raise BexioError(f"bexio at {self.host} answered {doing} at offset {offset} with items it had "
                                 "already listed (paging not honoured)")
            seen |= ids
            items += page
            offset += len(page)
        raise BexioError(f"bexio at {self.host} still listed more after {self.max_pages} pages while {doing}: "
                         "refusing an unbounded answer")

    def _request(self, method: str, path: str, doing: str, *, params: dict | None = None, data: bytes | None = None,
                 retry_on=None) -> requests.Response:
        url = self.base_url + path
        retrying = Retrying(
            retry=retry_if_exception(retry_on or _transient),
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(self._once, method, url, doing, params, data)
        except _Retryable as exc:
            status, booking = exc.status, method == "POST" and exc.status != 429
            what = "is rate-limiting us" if status == 429 else "had an internal error"
            raise BexioError(
                f"bexio {what} while {doing} (HTTP {status}: {_bexio_message(exc.response)})"
                + (MAYBE_BOOKED if booking else f" after {self.retries + 1} attempt(s); try again in a few minutes"),
                status=status, ambiguous=booking,
            ) from None
        except requests.RequestException as exc:
            booking = method == "POST" and not _never_sent(exc)
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:240]
            raise BexioError(
                f"bexio at {self.host} did not answer {doing} ({detail})"
                + (MAYBE_BOOKED if booking else "; check BEXIO_API_URL and that bexio is up, then try again"),
                ambiguous=booking,
            ) from exc

    def _once(self, method: str, url: str, doing: str, params: dict | None, data: bytes | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = self.session.request(method, url, params=params, data=data, headers=headers, timeout=self.timeout)
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(response, doing)
        if status in (401, 403):
            raise BexioError(
                f"bexio refused the token while {doing} (HTTP {status}: {_bexio_message(response)}): check "
                "BEXIO_TOKEN, a personal access token of a bexio user who may see and book the accounting",
                status=status)
        if status >= 400:
            raise BexioError(f"bexio refused {doing} (HTTP {status}: {_bexio_message(response)})"
                             + ("; check BEXIO_API_URL" if status in (404, 405) else ""), status=status)
        return response

    def _wait(self, state) -> float:
        base = wait_exponential(multiplier=self.backoff, max=self.max_wait)(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return min(self.max_wait, max(base, retry_after)) if retry_after is not None else base

    def _json(self, response: requests.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise BexioError(f"bexio at {self.host} answered {doing} with something other than JSON "
                             f"(HTTP {response.status_code}): {_bexio_message(response)!r}; check BEXIO_API_URL",
                             status=response.status_code, ambiguous=response.request.method == "POST") from None


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, requests.ConnectionError, requests.Timeout,
                            requests.exceptions.ChunkedEncodingError))


def _never_sent_or_rate_limited(exc: BaseException) -> bool:
    return (isinstance(exc, _Retryable) and exc.status == 429) or _never_sent(exc)


def is_configured(config: Mapping | None = None) -> bool:
    """Whether posting to bexio is switched on (BEXIO_TOKEN set)."""
    if config is None:
        from flask import current_app

        config = current_app.config
    return bool(config.get("BEXIO_TOKEN"))


def client_from_config(config: Mapping | None = None, **options: Any) -> BexioClient:
    """A client on the configured bexio company (`options` override BexioClient's); BexioNotConfigured
    without BEXIO_TOKEN."""
    if config is None:
        from flask import current_app

        config = current_app.config
    if not config.get("BEXIO_TOKEN"):
        raise BexioNotConfigured(NOT_CONFIGURED)
    settings = {"timeout": float(config.get("BEXIO_TIMEOUT", 30)),
                "backoff": float(config.get("BEXIO_RETRY_DELAY", 0.5)), **options}
    return BexioClient(config.get("BEXIO_API_URL") or DEFAULT_URL, config["BEXIO_TOKEN"], **settings)
