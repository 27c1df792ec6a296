"""A stand-in for bexio's REST API (accounts and manual entries), over real HTTP on localhost.

No bexio can run here, so this server answers what pieced-admin asks of bexio with the shapes
bexio's API documentation and its API clients give (https://docs.bexio.com):

* every request needs ``Authorization: Bearer <token>`` (401 ``{"error_code": 401, "message":
  "Invalid token."}`` otherwise) and ``Accept: application/json`` (406 otherwise; a POST also
  ``Content-Type: application/json``, 415 otherwise);
* ``GET /2.0/accounts?limit=&offset=``: the chart of accounts, a JSON list of ``{"id", "uuid",
  "account_no", "name", "account_type", "tax_id", "fibu_account_group_id", "is_active",
  "is_locked"}``; ``account_no`` is a string, ``id`` bexio's own number (never the account's);
* ``GET /3.0/accounting/manual_entries?limit=&offset=``: a JSON list of ``{"id", "type", "date",
  "reference_nr", "created_by_user_id", "edited_by_user_id", "entries": [{"id", "date",
  "debit_account_id", "credit_account_id", "tax_id", "tax_account_id", "description", "amount",
  "currency_id", "base_currency_id", "currency_factor", "base_currency_amount", ...}],
  "is_locked", "locked_info"}``;
* ``POST /3.0/accounting/manual_entries``: validates the body as the API documents it (`type`
  one of manual_single_entry / manual_compound_entry / manual_group_entry, `date` as YYYY-MM-DD,
  `entries` a non-empty list, a single entry exactly one line with a debit and a credit account
  that exist, `amount` a positive number, `description` and `reference_nr` strings) and answers
  201 with the stored entry; anything else is 422 ``{"error_code": 422, "message": ..., "errors":
  [...]}``.

Lists page with ``limit`` (default 500) and ``offset``; a ``limit`` above ``max_limit`` (2000,
the documented maximum of /2.0/accounts) is silently cut to it, the harder case for a client.
What bexio answers above the maximum, and its exact error bodies, are not confirmed by
bexio's own text: the shapes follow the API's clients.

Tests make it misbehave with ``fail(method, path, status, times=1, after=0, book=False)``: the
next ``times`` matching requests, once ``after`` of them have been answered normally, get
``status`` (with ``book=True`` a POST is booked first and answered with the error anyway, a
500 after the write); ``retry_after`` adds that header. ``delay`` slows every POST (for
races). ``requests`` records what was asked; ``entries`` holds what is booked.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ACCOUNTS_PATH", "MANUAL_ENTRIES_PATH", "BexioFake", "Recorded", "SWISS_SME_ACCOUNTS"]

ACCOUNTS_PATH = "/2.0/accounts"
MANUAL_ENTRIES_PATH = "/3.0/accounting/manual_entries"
ENTRY_TYPES = ("manual_single_entry", "manual_compound_entry", "manual_group_entry")

# A few accounts of the Swiss SME chart (KMU-Kontenrahmen), as a new bexio company has them.
SWISS_SME_ACCOUNTS = (
    ("1000", "Kasse", 3), ("1020", "Bankguthaben", 3), ("1100", "Forderungen aus Lieferungen und Leistungen", 3),
    ("1170", "Vorsteuer MWST Material, Waren, Dienstleistungen, Energie", 3), ("2000", "Verbindlichkeiten", 4),
    ("2200", "Geschuldete MWST (Umsatzsteuer)", 4), ("3200", "Handelserlöse", 1),
    ("3400", "Dienstleistungserlöse", 1), ("3800", "Erlösminderungen", 1), ("4000", "Materialaufwand", 2),
    ("6500", "Verwaltungsaufwand", 2), ("9200", "Gewinn / Verlust", 5),
)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    authorization: str | None
    body: Any = None
    raw: str = ""
    status: int | None = None


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int
    after: int = 0
    book: bool = False
    retry_after: str | None = None
    seen: int = 0


@dataclass
class _State:
    accounts: list[dict] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class BexioFake:
    """Start with ``with BexioFake() as bexio:``; point the client at ``bexio.url`` with ``bexio.token``."""

    def __init__(self, token: str = "pat-test-bexio", *, accounts=SWISS_SME_ACCOUNTS, first_id: int = 77,
                 max_limit: int = 2000, default_limit: int = 500):
        self.token = token
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.delay = 0.0
        self.requests: list[Recorded] = []
        self._state = _State()
        self._faults: list[_Fault] = []
        self._next_entry_id = 1
        self._next_line_id = 1
        self._next_account_id = first_id
        self._lock = threading.RLock()
        for number, name, kind in accounts:
            self.add_account(number, name, account_type=kind)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-bexio")

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> BexioFake:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ test controls

    @property
    def entries(self) -> list[dict]:
        """The manual entries booked, oldest first."""
        with self._lock:
            return [json.loads(json.dumps(e)) for e in self._state.entries]

    def account_id(self, number: str) -> int:
        """bexio's id of an account number."""
        return next(a["id"] for a in self._state.accounts if a["account_no"] == number)

    def add_account(self, number: str, name: str, *, account_type: int = 3, active: bool = True) -> dict:
        with self._lock:
            account = {"id": self._next_account_id, "uuid": str(uuid.uuid4()), "account_no": number, "name": name,
                       "account_type": account_type, "tax_id": None, "fibu_account_group_id": None,
                       "is_active": active, "is_locked": False}
            self._next_account_id += 3  # ids that are neither consecutive nor account numbers
            self._state.accounts.append(account)
            return account

    def remove_account(self, number: str) -> None:
        with self._lock:
            self._state.accounts = [a for a in self._state.accounts if a["account_no"] != number]

    def book(self, body: dict) -> dict:
        """Book an entry as if someone had entered it in bexio (validated like a POST; Decimals are numbers)."""
        with self._lock:
            return self._create(json.loads(json.dumps(body, default=float)))

    def fail(self, method: str, path: str, status: int, *, times: int = 1, after: int = 0, book: bool = False,
             retry_after: str | None = None) -> None:
        """Answer `status` to `times` matching requests once `after` of them were answered normally."""
        self._faults.append(_Fault(method, re.compile(path), status, times, after, book, retry_after))

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # ------------------------------------------------------------------ the API

    def _page(self, items: list[dict], params: dict[str, str]) -> tuple[int, Any]:
        try:
            limit = int(params.get("limit", self.default_limit))
            offset = int(params.get("offset", 0))
        except ValueError:
            return 422, {"error_code": 422, "message": "limit and offset must be integers"}
        if limit < 0 or offset < 0:
            return 422, {"error_code": 422, "message": "limit and offset must not be negative"}
        limit = min(limit, self.max_limit)
        return 200, items[offset:offset + limit]

    def _create(self, body: Any) -> dict:
        errors = self._validate(body)
        if errors:
            raise _Invalid(errors)
        entry_id = self._next_entry_id
        self._next_entry_id += 1
        lines = []
        for line in body["entries"]:
            amount = Decimal(str(line["amount"]))
            lines.append({
                "id": self._next_line_id, "date": body["date"],
                "debit_account_id": line.get("debit_account_id"), "credit_account_id": line.get("credit_account_id"),
                "tax_id": line.get("tax_id"), "tax_account_id": line.get("tax_account_id"),
                "description": line.get("description") or "", "amount": float(amount),
                "currency_id": line.get("currency_id") or 1, "base_currency_id": 1,
                "currency_factor": line.get("currency_factor") or 1, "base_currency_amount": float(amount),
                "created_by_user_id": 1, "edited_by_user_id": 1,
            })
            self._next_line_id += 1
        entry = {"id": entry_id, "type": body["type"], "date": body["date"],
                 "reference_nr": body.get("reference_nr") or "", "created_by_user_id": 1, "edited_by_user_id": 1,
                 "entries": lines, "is_locked": False, "locked_info": None}
        self._state.entries.append(entry)
        return entry

    def _validate(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["the body must be a JSON object"]
        errors = []
        if body.get("type") not in ENTRY_TYPES:
            errors.append(f"type: must be one of {', '.join(ENTRY_TYPES)}")
        day = body.get("date")
        try:
            if not isinstance(day, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError
            date.fromisoformat(day)
        except ValueError:
            errors.append("date: must be a date as YYYY-MM-DD")
        if "reference_nr" in body and body["reference_nr"] is not None and not isinstance(body["reference_nr"], str):
            errors.append("reference_nr: must be a string")
        lines = body.get("entries")
        if not isinstance(lines, list) or not lines:
            return errors + ["entries: must be a non-empty list"]
        if body.get("type") == "manual_single_entry" and len(lines) != 1:
            errors.append("entries: a manual_single_entry has exactly one entry")
        ids = {a["id"] for a in self._state.accounts}
        for n, line in enumerate(lines):
            if not isinstance(line, dict):
                errors.append(f"entries[{n}]: must be an object")
                continue
            for side in ("debit_account_id", "credit_account_id"):
                value = line.get(side)
                if value is None and body.get("type") == "manual_compound_entry":
                    continue
                if isinstance(value, bool) or not isinstance(value, int):
                    errors.append(f"entries[{n}].{side}: must be an account id")
                elif value not in ids:
                    errors.append(f"entries[{n}].{side}: account {value} does not exist")
            amount = line.get("amount")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
                errors.append(f"entries[{n}].amount: must be a positive number")
            if "description" in line and not isinstance(line["description"], str):
                errors.append(f"entries[{n}].description: must be a string")
        return errors

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.pattern.fullmatch(path):
                if fault.seen < fault.after:
                    fault.seen += 1
                    return None
                fault.times -= 1
                return fault
        return None

    def _handle(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any, dict]:
        with self._lock:
            fault = self._take_fault(method, path)
        headers = {"Retry-After": fault.retry_after} if fault and fault.retry_after is not None else {}
        if fault and not fault.book:
            message = "Too Many Requests" if fault.status == 429 else "Internal Server Error"
            return fault.status, {"error_code": fault.status, "message": message}, headers
        if method == "GET" and path == ACCOUNTS_PATH:
            with self._lock:
                status, answer = self._page(list(self._state.accounts), params)
            return status, answer, {}
        if method == "GET" and path == MANUAL_ENTRIES_PATH:
            with self._lock:
                status, answer = self._page(self.entries, params)
            return status, answer, {}
        if method == "POST" and path == MANUAL_ENTRIES_PATH:
            if self.delay:
                time.sleep(self.delay)
            with self._lock:
                try:
                    created = self._create(body)
                except _Invalid as exc:
                    return 422, {"error_code": 422, "message": "The given data was invalid.",
                                 "errors": exc.errors}, {}
            if fault:  # booked, and answered with an error anyway
                return fault.status, {"error_code": fault.status, "message": "Internal Server Error"}, headers
            return 201, created, {}
        return 404, {"error_code": 404, "message": "Not found"}, {}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: Any, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
                record = Recorded(method, parts.path, params, self.headers.get("Authorization"),
                                  raw=raw.decode("utf-8", "replace"))
                with fake._lock:
                    fake.requests.append(record)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    status, body, headers = 401, {"error_code": 401, "message": "Invalid token."}, {}
                elif "application/json" not in (self.headers.get("Accept") or ""):
                    status, body, headers = 406, {"error_code": 406, "message": "Accept must be application/json"}, {}
                elif method == "POST" and "application/json" not in (self.headers.get("Content-Type") or ""):
                    status, body, headers = 415, {"error_code": 415, "message": "Content-Type must be JSON"}, {}
                else:
                    body = None
                    if method == "POST":
                        try:
                            body = json.loads(raw.decode("utf-8"))
                        except (UnicodeDecodeError, ValueError):
                            body = ...
                    record.body = None if body is ... else body
                    if body is ...:
                        status, body, headers = 400, {"error_code": 400, "message": "Invalid JSON"}, {}
                    else:
                        status, body, headers = fake._handle(method, parts.path, params, body)
                record.status = status
                self._answer(status, body, headers)

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

        return Handler
