"""A stand-in for the LiteLLM proxy's team spend endpoints.

Answers like LiteLLM's proxy (``SpendAnalyticsPaginatedResponse``):

* ``GET /team/daily/activity/aggregated?team_ids=..&start_date=..&end_date=..``
  one response for the whole range: ``results`` (one entry per day) and
  ``metadata.total_spend`` over everything, ``page: 1``, ``has_more: false``;
* ``GET /team/daily/activity?...&page=N&page_size=M``: LiteLLM pages over
  its daily spend *rows* (one per team, day, API key and model), newest day
  first, then groups each page's rows by day. So one day can be split over
  two pages, and ``metadata.total_spend`` is the total *of that page only*.

Both want ``Authorization: Bearer <key>``; dates are inclusive UTC days
compared as ``YYYY-MM-DD`` strings; ``team_ids`` is comma-separated.
Spend is summed as floats, as LiteLLM does.

Tests set spend with ``set_spend``/``add_spend``, read ``requests`` to check
what was asked, and can make the proxy misbehave: ``aggregated_available =
False`` (older proxies: 404), ``fail_next``, ``fail_team``, ``delay``,
``endless_pages``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LiteLLMServer", "RecordedRequest", "SpendRow"]

AGGREGATED_PATH = "/team/daily/activity/aggregated"
PAGINATED_PATH = "/team/daily/activity"

_METRIC_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "total_tokens",
    "successful_requests",
    "failed_requests",
    "api_requests",
)


@dataclass
class SpendRow:
    team: str
    day: str
    spend: float
    model: str = "gpt-4o-mini"
    api_key: str = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    api_requests: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    authorization: str | None = None
    status: int | None = None


@dataclass
class _Failure:
    status: int
    count: int
    path: str | None = None


def _day(value: date | str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


def _usd(value: float | int | str | Decimal) -> float:
    # LiteLLM stores spend as a float (Prisma Float); keep that here.
    return float(value)


class LiteLLMServer:
    """Fake LiteLLM proxy in a thread; ``url`` is its base URL."""

    def __init__(self, api_key: str = "sk-test-master-key", *, host: str = "127.0.0.1", port: int = 0, default_page_size: int = 10):
        self.api_key = api_key
        self.default_page_size = default_page_size
        self.aggregated_available = True
        self.endless_pages = False
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._rows: list[SpendRow] = []
        self._failures: list[_Failure] = []
        self._team_failures: dict[str, int] = {}
        self._lock = threading.RLock()
        self._host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("LiteLLMServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LiteLLMServer":
        if self._httpd is None:
            handler = type("_BoundHandler", (_Handler,), {"proxy": self})
            self._httpd = ThreadingHTTPServer((self._host, self._port), handler)
            self._httpd.daemon_threads = True
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="fake-litellm")
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)

    def __enter__(self) -> "LiteLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls --

    def set_spend(self, team: str, day: date | str, usd: float | int | str | Decimal, **row: Any) -> None:
        """Make the spend of ``team`` on UTC ``day`` exactly ``usd`` (one row)."""
        key = _day(day)
        with self._lock:
            self._rows = [r for r in self._rows if not (r.team == team and r.day == key)]
            self._rows.append(SpendRow(team, key, _usd(usd), **row))

    def add_spend(self, team: str, day: date | str, usd: float | int | str | Decimal, **row: Any) -> None:
        """Add one more spend row (another model or key) for ``team`` on ``day``."""
        with self._lock:
            self._rows.append(SpendRow(team, _day(day), _usd(usd), **row))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self.requests.clear()

    def fail_next(self, count: int = 1, status: int = 500, *, path: str | None = None) -> None:
        """Answer the next ``count`` requests (to ``path`` if given) with ``status``."""
        with self._lock:
            self._failures.append(_Failure(status, count, path))

    def fail_team(self, team: str, status: int | None = 500) -> None:
        """Always fail requests that ask for ``team`` (``status=None`` heals it)."""
        with self._lock:
            if status is None:
                self._team_failures.pop(team, None)
            else:
                self._team_failures[team] = status

    def spend(self, team: str, start: date | str, end: date | str) -> float:
        """What LiteLLM would report as the team's total over [start, end]."""
        first, last = _day(start), _day(end)
        with self._lock:
            return sum(r.spend for r in self._rows if r.team == team and first <= r.day <= last)

    def asked(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path in (None, r.path)]

    # -- internals --

    def _take_failure(self, path: str, teams: list[str]) -> int | None:
        with self._lock:
            for failure in self._failures:
                if failure.path in (None, path):
                    failure.count -= 1
                    if failure.count <= 0:
                        self._failures.remove(failure)
                    return failure.status
            for team in teams:
                if team in self._team_failures:
                    return self._team_failures[team]
        return None

    def _select(self, teams: list[str], first: str, last: str) -> list[SpendRow]:
        with self._lock:
            rows = [r for r in self._rows if (not teams or r.team in teams) and first <= r.day <= last]
        # LiteLLM orders by date descending; keep a stable order within a day.
        return sorted(rows, key=lambda r: (r.day, r.team, r.model, r.api_key), reverse=True)


def _metrics(rows: list[SpendRow]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"spend": 0.0, **{k: 0 for k in _METRIC_KEYS}}
    for row in rows:
        metrics["spend"] += row.spend
        metrics["prompt_tokens"] += row.prompt_tokens
        metrics["completion_tokens"] += row.completion_tokens
        metrics["total_tokens"] += row.prompt_tokens + row.completion_tokens
        metrics["api_requests"] += row.api_requests
        metrics["successful_requests"] += row.api_requests
    return metrics


def _breakdown(rows: list[SpendRow]) -> dict[str, Any]:
    def group(key) -> dict[str, Any]:
        out: dict[str, list[SpendRow]] = {}
        for row in rows:
            out.setdefault(key(row), []).append(row)
        return {k: {"metrics": _metrics(v), "metadata": {}} for k, v in out.items()}

    return {
        "mcp_servers": {},
        "models": group(lambda r: r.model),
        "model_groups": group(lambda r: r.model),
        "providers": group(lambda r: "openai"),
        "endpoints": {},
        "api_keys": group(lambda r: r.api_key),
        "entities": {k: {**v, "metadata": {"team_alias": k}} for k, v in group(lambda r: r.team).items()},
    }


def _by_day(rows: list[SpendRow]) -> list[dict[str, Any]]:
    days: dict[str, list[SpendRow]] = {}
    for row in rows:
        days.setdefault(row.day, []).append(row)
    return [{"date": day, "metrics": _metrics(day_rows), "breakdown": _breakdown(day_rows)} for day, day_rows in days.items()]


def _metadata(rows: list[SpendRow], page: int, total_pages: int, has_more: bool) -> dict[str, Any]:
    metrics = _metrics(rows)
    meta = {f"total_{k}": v for k, v in metrics.items() if k in ("spend", "prompt_tokens", "completion_tokens", "total_tokens")}
    meta.update(
        {
            "total_api_requests": metrics["api_requests"],
            "total_successful_requests": metrics["successful_requests"],
            "total_failed_requests": metrics["failed_requests"],
            "total_cache_read_input_tokens": 0,
            "total_cache_creation_input_tokens": 0,
            "page": page,
            "total_pages": total_pages,
            "has_more": has_more,
        }
    )
    return meta


class _Handler(BaseHTTPRequestHandler):
    proxy: LiteLLMServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (timeout tests)

    @staticmethod
    def _error(status: int, message: str, kind: str) -> tuple[int, Any]:
        return status, {"error": {"message": message, "type": kind, "param": "None", "code": str(status)}}

    def do_GET(self) -> None:  # noqa: N802
        proxy = self.proxy
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record = RecordedRequest("GET", path, params, self.headers.get("Authorization"))
        with proxy._lock:
            proxy.requests.append(record)
        if proxy.delay:
            time.sleep(proxy.delay)
        status, body = self._answer(path, params)
        record.status = status  # before answering, so a test sees it once the client returns
        self._send(status, body)

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        proxy = self.proxy
        if path not in (AGGREGATED_PATH, PAGINATED_PATH) or (path == AGGREGATED_PATH and not proxy.aggregated_available):
            return 404, {"detail": "Not Found"}
        if self.headers.get("Authorization") != f"Bearer {proxy.api_key}":
            return self._error(
                401,
                "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...****, Key Hash (Token) =... "
                "Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
                "auth_error",
            )
        teams = [t for t in params.get("team_ids", "").split(",") if t]
        failure = proxy._take_failure(path, teams)
        if failure is not None:
            kind = "internal_server_error" if failure >= 500 else "rate_limit_error" if failure == 429 else "bad_request_error"
            return self._error(failure, f"injected failure {failure}", kind)
        try:
            first, last = _day(params["start_date"]), _day(params["end_date"])
        except KeyError:
            return self._error(400, "Please provide start_date and end_date", "bad_request_error")
        except ValueError as exc:
            return self._error(400, f"Invalid date format: {exc}", "bad_request_error")
        rows = proxy._select(teams, first, last)
        if path == AGGREGATED_PATH:
            return 200, {"results": _by_day(rows), "metadata": _metadata(rows, 1, 1, False)}
        try:
            page = int(params.get("page", 1))
            page_size = int(params.get("page_size", proxy.default_page_size))
            if page < 1 or page_size < 1:
                raise ValueError("page and page_size must be positive")
        except ValueError as exc:
            return 422, {"detail": [{"type": "int_parsing", "loc": ["query", "page"], "msg": str(exc)}]}
        total_pages = -(-len(rows) // page_size)  # 0 when there is nothing, like LiteLLM
        chunk = rows[(page - 1) * page_size : page * page_size]
        has_more = page * page_size < len(rows)
        if proxy.endless_pages:
            has_more, total_pages = True, page + 1
        return 200, {"results": _by_day(chunk), "metadata": _metadata(chunk, page, total_pages, has_more)}
