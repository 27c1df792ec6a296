"""A small Stripe stand-in over real HTTP, for what localstripe cannot do.

localstripe has no Checkout Sessions, no `GET /v1/customers/search` and
ignores idempotency keys. This server answers those with Stripe's documented
JSON shapes (https://docs.stripe.com/api) and can misbehave the way the real
API and networks do, so the official `stripe` library is tested against it:

* idempotency: a POST with an `Idempotency-Key` already seen returns the
  stored answer (header `Idempotent-Replayed: true`); the same key with other
  parameters is an `idempotency_error` (400), as at Stripe;
* faults: `fail(...)` answers an error *before* doing anything (e.g. 429);
  `fail(..., after=True)` does the work, stores the success for the key, and
  answers the error anyway (a 500 after the write); `drop(...)` does the work
  and closes the connection without an answer; `stall(...)` does the work and
  answers only after `seconds` (a client timeout);
* `search_available = False` makes customer search answer 404 (as
  localstripe does); `search_lag` hides customers younger than that many
  seconds from search (Stripe's search index lags writes).

Resources: customers (create, retrieve, update, list, search), payment
methods (attach the test tokens `pm_card_visa` / `pm_card_chargeCustomerFail`,
list, detach; `pm_card_authenticationRequired` fails off-session with
`authentication_required`), PaymentIntents (create, retrieve, confirm, cancel,
list), Checkout Sessions (create, mode=setup or mode=payment; `pay_session`
plays the card holder paying one) and Refunds (create). `created` counts what was created, by kind
("charge": money taken by a successful confirm);
`requests` records what was asked.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

__all__ = ["StripeFake", "Recorded", "TEST_CARDS"]

# The test tokens Stripe documents (https://docs.stripe.com/testing): brand, last4, declines at charge.
TEST_CARDS = {
    "pm_card_visa": ("visa", "4242", False),
    "pm_card_mastercard": ("mastercard", "4444", False),
    "pm_card_chargeCustomerFail": ("visa", "0341", True),
    # Off-session charges of this card fail with `authentication_required` (the bank wants 3-D Secure).
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required"),
}
DECLINE_MESSAGE = "Your card was declined."


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    status: int | None = None


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern
    kind: str              # fail | fail_after | drop | stall
    times: int
    status: int = 500
    seconds: float = 0.0
    headers: dict = field(default_factory=dict)


def _unflatten(pairs: list[tuple[str, str]]) -> dict:
    """`metadata[a]=1&payment_method_types[0]=card` -> {"metadata": {"a": "1"}, "payment_method_types": ["card"]}."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def lists(node):
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [lists(node[k]) for k in sorted(node, key=int)]
            return {k: lists(v) for k, v in node.items()}
        return node

    return lists(root)


def _coerce(value):
    if value in ("true", "false"):
        return value == "true"
    return value


class _Error(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, **extra):
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **({"code": code} if code else {}), **extra}}


class StripeFake:
    """Start with `with StripeFake() as fake:`; point the library at `fake.url`."""

    def __init__(self, api_key_prefix: str = "sk_test_"):
        self.api_key_prefix = api_key_prefix
        self.customers: dict[str, dict] = {}
        self.payment_methods: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.created: dict[str, list[str]] = {"customer": [], "payment_method": [], "payment_intent": [],
                                              "charge": [], "checkout.session": [], "refund": []}
        self.requests: list[Recorded] = []
        self.search_available = True
        self.search_lag = 0.0
        self._idempotent: dict[str, tuple[str, int, dict]] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> StripeFake:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ test controls

    def fail(self, method: str, path: str, status: int, *, times: int = 1, after: bool = False,
             headers: dict | None = None) -> None:
        """Answer `status` to the next `times` matching requests (after doing the work when `after`)."""
        self._faults.append(_Fault(method, re.compile(path), "fail_after" if after else "fail", times, status,
                                   headers=headers or {}))

    def drop(self, method: str, path: str, *, times: int = 1) -> None:
        """Do the work of the next `times` matching requests, then close the connection unanswered."""
        self._faults.append(_Fault(method, re.compile(path), "drop", times))

    def stall(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Do the work, then answer only after `seconds` (longer than the client's timeout)."""
        self._faults.append(_Fault(method, re.compile(path), "stall", times, seconds=seconds))

    def client(self):
        """The official library pointed at this fake (for test set-up, e.g. attaching a card)."""
        import stripe

        return stripe.StripeClient("sk_test_fake_setup", base_addresses={"api": self.url}, max_network_retries=0)

    def add_customer(self, **fields) -> dict:
        """A customer that exists at Stripe already (e.g. created before ids were stored)."""
        with self._lock:
            return self._create_customer(fields)

    def set_payment_intent_status(self, pi_id: str, status: str) -> None:
        self.payment_intents[pi_id]["status"] = status

    def delete_payment_intent(self, pi_id: str) -> None:
        del self.payment_intents[pi_id]

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    # ------------------------------------------------------------------ objects

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{secrets.token_hex(7)}"

    def _create_customer(self, p: dict) -> dict:
        customer = {
            "id": self._id("cus"), "object": "customer", "created": int(time.time()), "livemode": False,
            "name": p.get("name"), "email": p.get("email"), "description": p.get("description"),
            "metadata": dict(p.get("metadata") or {}),
            "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
            "_created_at": time.monotonic(),
        }
        self.customers[customer["id"]] = customer
        self.created["customer"].append(customer["id"])
        return customer

    def _public(self, obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _list(self, items: list[dict], url: str, params: dict) -> dict:
        limit = int(params.get("limit") or 10)
        after = params.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        return {"object": "list", "url": url, "has_more": len(items) > limit,
                "data": [self._public(i) for i in items[:limit]]}

    def _customer(self, cid: str) -> dict:
        if cid not in self.customers:
            raise _Error(404, "invalid_request_error", f"No such customer: '{cid}'", "resource_missing",
                         param="id")
        return self.customers[cid]

    def _payment_intent(self, pid: str) -> dict:
        if pid not in self.payment_intents:
            raise _Error(404, "invalid_request_error", f"No such payment_intent: '{pid}'", "resource_missing",
                         param="intent")
        return self.payment_intents[pid]

    # ------------------------------------------------------------------ routes

    def _route(self, method: str, path: str, p: dict) -> tuple[int, dict]:
        m = re.fullmatch
        if method == "POST" and path == "/v1/customers":
            return 200, self._public(self._create_customer(p))
        if method == "GET" and path == "/v1/customers/search":
            if not self.search_available:
                raise _Error(404, "invalid_request_error", "Unrecognized request URL (GET: /v1/customers/search).")
            found = re.fullmatch(r"metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'", p.get("query", ""))
            if not found:
                raise _Error(400, "invalid_request_error", f"Invalid search query: {p.get('query')}")
            key, value = found.group(1), found.group(2).replace("\\'", "'")
            now = time.monotonic()
            hits = [self._public(c) for c in self.customers.values()
                    if c["metadata"].get(key) == value and now - c["_created_at"] >= self.search_lag]
            return 200, {"object": "search_result", "url": "/v1/customers/search", "has_more": False,
                         "next_page": None, "data": hits}
        if method == "GET" and path == "/v1/customers":
            return 200, self._list(list(self.customers.values()), path, p)
        if (g := m(r"/v1/customers/([^/]+)", path)) and method == "GET":
            return 200, self._public(self._customer(g.group(1)))
        if (g := m(r"/v1/customers/([^/]+)", path)) and method == "POST":
            customer = self._customer(g.group(1))
            if "invoice_settings" in p:
                customer["invoice_settings"].update(p["invoice_settings"])
            if "metadata" in p:
                customer["metadata"].update(p["metadata"])
            return 200, self._public(customer)
        if (g := m(r"/v1/payment_methods/([^/]+)/attach", path)) and method == "POST":
            token = g.group(1)
            if token not in TEST_CARDS:
                raise _Error(404, "invalid_request_error", f"No such PaymentMethod: '{token}'", "resource_missing")
            self._customer(p.get("customer", ""))
            brand, last4, declines = TEST_CARDS[token]
            pm = {"id": self._id("pm"), "object": "payment_method", "type": "card", "created": int(time.time()),
                  "customer": p["customer"], "livemode": False, "metadata": {}, "billing_details": {},
                  "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "funding": "credit",
                           "country": "CH"},
                  "_declines": declines}
            self.payment_methods[pm["id"]] = pm
            self.created["payment_method"].append(pm["id"])
            return 200, self._public(pm)
        if (g := m(r"/v1/payment_methods/([^/]+)/detach", path)) and method == "POST":
            pm = self.payment_methods[g.group(1)]
            pm["customer"] = None
            return 200, self._public(pm)
        if method == "GET" and path == "/v1/payment_methods":
            self._customer(p.get("customer", ""))
            items = [pm for pm in self.payment_methods.values()
                     if pm["customer"] == p.get("customer") and pm["type"] == p.get("type", "card")]
            return 200, self._list(items, path, p)
        if method == "POST" and path == "/v1/payment_intents":
            return 200, self._public(self._create_payment_intent(p))
        if method == "GET" and path == "/v1/payment_intents":
            items = [pi for pi in self.payment_intents.values()
                     if not p.get("customer") or pi["customer"] == p["customer"]]
            return 200, self._list(items, path, p)
        if (g := m(r"/v1/payment_intents/([^/]+)", path)) and method == "GET":
            return 200, self._public(self._payment_intent(g.group(1)))
        if (g := m(r"/v1/payment_intents/([^/]+)/confirm", path)) and method == "POST":
            return self._confirm(self._payment_intent(g.group(1)), p)
        if (g := m(r"/v1/payment_intents/([^/]+)/cancel", path)) and method == "POST":
            pi = self._payment_intent(g.group(1))
            if pi["status"] in ("succeeded", "canceled", "processing"):
                raise _Error(400, "invalid_request_error",
                             f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                             "payment_intent_unexpected_state")
            pi["status"] = "canceled"
            pi["canceled_at"] = int(time.time())
            return 200, self._public(pi)
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._create_session(p)
        if method == "POST" and path == "/v1/refunds":
            return 200, self._create_refund(p)
        raise _Error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create_payment_intent(self, p: dict) -> dict:
        try:
            amount = int(p["amount"])
        except (KeyError, ValueError):
            raise _Error(400, "invalid_request_error", "Missing required param: amount.", "parameter_missing") from None
        if p.get("customer"):
            self._customer(p["customer"])
        pm = p.get("payment_method")
        pi = {
            "id": self._id("pi"), "object": "payment_intent", "amount": amount, "currency": p.get("currency"),
            "customer": p.get("customer"), "payment_method": pm, "metadata": dict(p.get("metadata") or {}),
            "payment_method_types": p.get("payment_method_types") or ["card"], "status":
            "requires_confirmation" if pm else "requires_payment_method", "created": int(time.time()),
            "livemode": False, "last_payment_error": None, "latest_charge": None, "capture_method": "automatic",
            "confirmation_method": "automatic", "client_secret": None, "canceled_at": None,
            "description": p.get("description"),
        }
        pi["client_secret"] = f"{pi['id']}_secret_{secrets.token_hex(8)}"
        self.payment_intents[pi["id"]] = pi
        self.created["payment_intent"].append(pi["id"])
        return pi

    def _confirm(self, pi: dict, p: dict) -> tuple[int, dict]:
        if pi["status"] != "requires_confirmation":
            raise _Error(400, "invalid_request_error",
                         f"This PaymentIntent's status is {pi['status']}, so it cannot be confirmed.",
                         "payment_intent_unexpected_state")
        pi["off_session"] = p.get("off_session")
        pm = self.payment_methods.get(pi["payment_method"]) or {}
        if pm.get("_declines") == "authentication_required" and p.get("off_session") in (True, "true", "True"):
            # https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method: off-session, SCA wanted
            message = "This payment requires authentication by the card holder."
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"type": "card_error", "code": "authentication_required",
                                        "decline_code": "authentication_required", "message": message,
                                        "payment_method": self._public(pm)}
            raise _Error(402, "card_error", message, "authentication_required",
                         decline_code="authentication_required", payment_intent=self._public(pi))
        if pm.get("_declines"):
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                        "decline_code": "generic_decline", "message": DECLINE_MESSAGE,
                                        "payment_method": self._public(pm)}
            raise _Error(402, "card_error", DECLINE_MESSAGE, "card_declined", decline_code="generic_decline",
                         payment_intent=self._public(pi))
        pi["status"] = "succeeded"
        pi["latest_charge"] = self._id("ch")
        self.created["charge"].append(pi["latest_charge"])
        return 200, self._public(pi)

    def _create_refund(self, p: dict) -> dict:
        pi = self._payment_intent(p.get("payment_intent", ""))
        if pi["status"] != "succeeded":
            raise _Error(400, "invalid_request_error", f"PaymentIntent {pi['id']} has no successful charge to refund.",
                         "charge_not_refundable")
        amount = int(p.get("amount") or pi["amount"])
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == pi["id"])
        if amount + refunded > pi["amount"]:
            raise _Error(400, "invalid_request_error",
                         f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                         f"({pi['amount'] - refunded})", "amount_too_large")
        refund = {"id": self._id("re"), "object": "refund", "amount": amount, "currency": pi["currency"],
                  "payment_intent": pi["id"], "charge": pi["latest_charge"], "status": "succeeded",
                  "metadata": dict(p.get("metadata") or {}), "created": int(time.time()), "reason": None}
        self.refunds[refund["id"]] = refund
        self.created["refund"].append(refund["id"])
        return refund

    def _create_payment_session(self, p: dict) -> dict:
        """mode=payment (https://docs.stripe.com/api/checkout/sessions/create): one line item, price_data."""
        items = p.get("line_items") or []
        if not items or not (items[0].get("price_data") or {}).get("unit_amount"):
            raise _Error(400, "invalid_request_error", "Missing required param: line_items[0][price_data].",
                         "parameter_missing")
        price = items[0]["price_data"]
        amount = int(price["unit_amount"]) * int(items[0].get("quantity") or 1)
        sid = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": sid, "object": "checkout.session", "mode": "payment", "status": "open", "livemode": False,
            "customer": p.get("customer"), "success_url": p.get("success_url"), "cancel_url": p.get("cancel_url"),
            "payment_method_types": p.get("payment_method_types"), "metadata": dict(p.get("metadata") or {}),
            "amount_total": amount, "currency": price.get("currency"), "payment_status": "unpaid",
            "payment_intent": None, "url": f"https://checkout.stripe.com/c/pay/{sid}",
            "created": int(time.time()), "expires_at": int(time.time()) + 86400,
            "_product": (price.get("product_data") or {}).get("name"),
        }
        self.sessions[sid] = session
        self.created["checkout.session"].append(sid)
        return self._public(session)

    def pay_session(self, sid: str) -> dict:
        """The card holder pays the session: its PaymentIntent succeeds; returns the session as the webhook has it."""
        session = self.sessions[sid]
        pi = self._create_payment_intent({"amount": session["amount_total"], "currency": session["currency"],
                                          "customer": session["customer"], "payment_method": "pm_checkout",
                                          "metadata": session["metadata"]})
        pi["status"] = "succeeded"
        pi["latest_charge"] = self._id("ch")
        session.update(status="complete", payment_status="paid", payment_intent=pi["id"])
        return self._public(session)

    def _create_session(self, p: dict) -> dict:
        if p.get("mode") == "payment":
            return self._create_payment_session(p)
        if p.get("mode") != "setup":
            raise _Error(400, "invalid_request_error", "This fake only supports mode=setup and mode=payment.")
        for name in ("success_url",):
            if not p.get(name):
                raise _Error(400, "invalid_request_error", f"Missing required param: {name}.", "parameter_missing")
        self._customer(p.get("customer", ""))
        sid = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": sid, "object": "checkout.session", "mode": "setup", "status": "open", "livemode": False,
            "customer": p["customer"], "success_url": p["success_url"], "cancel_url": p.get("cancel_url"),
            "payment_method_types": p.get("payment_method_types"), "metadata": dict(p.get("metadata") or {}),
            "setup_intent": self._id("seti"), "url": f"https://checkout.stripe.com/c/pay/{sid}",
            "created": int(time.time()), "expires_at": int(time.time()) + 86400, "currency": p.get("currency"),
        }
        self.sessions[sid] = session
        self.created["checkout.session"].append(sid)
        return session

    # ------------------------------------------------------------------ HTTP

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.pattern.fullmatch(path):
                fault.times -= 1
                return fault
        return None

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length).decode()
                else:
                    raw = parts.query
                pairs = parse_qsl(raw, keep_blank_values=True)
                params = {k: _coerce(v) if not isinstance(v, dict) else v for k, v in _unflatten(pairs).items()}
                key = self.headers.get("Idempotency-Key") if method == "POST" else None
                record = Recorded(method, path, params, key)
                fake.requests.append(record)
                auth = self.headers.get("Authorization", "")
                if not auth.startswith(f"Bearer {fake.api_key_prefix}"):
                    record.status = 401
                    return self._answer(401, {"error": {"type": "invalid_request_error",
                                                        "message": "Invalid API Key provided."}})
                fault = fake._take_fault(method, path)
                if fault and fault.kind == "fail":
                    record.status = fault.status
                    return self._answer(fault.status, {"error": {
                        "type": "api_error" if fault.status >= 500 else "invalid_request_error",
                        "code": "rate_limit" if fault.status == 429 else None,
                        "message": "Too many requests hit the API too quickly." if fault.status == 429
                        else "An unknown error occurred"}}, fault.headers)
                fingerprint = json.dumps(params, sort_keys=True)
                replayed = False
                with fake._lock:
                    if key and key in fake._idempotent:
                        seen_print, status, body = fake._idempotent[key]
                        if seen_print != fingerprint:
                            status, body = 400, {"error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same "
                                           "parameters they were first used with."}}
                        replayed = True
                    else:
                        try:
                            status, body = fake._route(method, path, params)
                        except _Error as err:
                            status, body = err.status, err.body
                        if key and status < 500:
                            fake._idempotent[key] = (fingerprint, status, body)
                record.status = status
                if fault and fault.kind == "fail_after":
                    record.status = fault.status
                    return self._answer(fault.status, {"error": {"type": "api_error",
                                                                 "message": "An unknown error occurred"}})
                if fault and fault.kind == "drop":
                    record.status = None
                    self.close_connection = True
                    return None
                if fault and fault.kind == "stall":
                    time.sleep(fault.seconds)
                self._answer(status, body, {"Idempotent-Replayed": "true"} if replayed else None)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler
