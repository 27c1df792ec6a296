"""localstripe, the real local Stripe peer, run in a subprocess for a test session.

`start_localstripe()` starts `localstripe --port P --from-scratch` on a free
port (through this file, see below), waits until it answers and returns a
handle with its URL, a `stripe.StripeClient` on it, webhook registration
(`POST /_config/webhooks/<id>`) and a few read helpers for assertions.

Run as a script, this file starts localstripe itself after two small
adjustments, both limited to what Stripe documents:

* `POST /v1/payment_intents/{id}/confirm` accepts `off_session=true`
  (https://docs.stripe.com/api/payment_intents/confirm#confirm_payment_intent-off_session);
  localstripe answers "Unexpected off_session" and would refuse every
  off-session charge. The flag changes nothing for its test cards.
* its store is written to a file of this instance instead of the shared
  /tmp/localstripe.pickle, so two test runs on one machine cannot overwrite
  each other's state.

Everything else (customers, payment methods, PaymentIntents, declines, signed
webhook deliveries) is localstripe's own behaviour.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

API_KEY = "sk_test_pieced_localstripe"


class LocalStripeUnavailable(RuntimeError):
    """localstripe is not installed or did not answer."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalStripe:
    port: int
    process: subprocess.Popen
    store_path: str
    log_path: str
    api_key: str = API_KEY
    _session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs):
        """The official library pointed at this instance."""
        import stripe

        return stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, max_network_retries=0, **kwargs)

    def register_webhook(self, webhook_id: str, url: str, secret: str, events: list[str] | None = None) -> None:
        """Have localstripe sign and deliver its events to `url` (about 1 s after each event)."""
        data: dict = {"url": url, "secret": secret}
        if events:
            data["events"] = events
        resp = self._session.post(f"{self.url}/_config/webhooks/{webhook_id}", json=data, timeout=5)
        resp.raise_for_status()

    def get(self, path: str, **params) -> dict:
        resp = self._session.get(f"{self.url}{path}", params=params,
                                 headers={"Authorization": f"Bearer {self.api_key}"}, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def list_all(self, path: str) -> list[dict]:
        """Every object of a list endpoint (localstripe pages with starting_after)."""
        items: list[dict] = []
        after = None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = self.get(path, **params)
            items.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return items
            after = page["data"][-1]["id"]

    def payment_intents_of(self, customer_id: str) -> list[dict]:
        return [pi for pi in self.list_all("/v1/payment_intents") if pi.get("customer") == customer_id]

    def customers_of_org(self, org_id: str) -> list[dict]:
        return [c for c in self.list_all("/v1/customers") if (c.get("metadata") or {}).get("pieced_org_id") == org_id]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for path in (self.store_path, self.log_path):
            Path(path).unlink(missing_ok=True)


def start_localstripe(timeout: float = 20.0) -> LocalStripe:
    """Start one localstripe on a free port and wait until it answers."""
    try:
        import localstripe  # noqa: F401
    except ImportError as exc:
        raise LocalStripeUnavailable(f"localstripe is not installed ({exc}); pip install localstripe") from None
    port = free_port()
    fd, store_path = tempfile.mkstemp(prefix="localstripe-", suffix=".pickle")
    os.close(fd)
    log = tempfile.NamedTemporaryFile(prefix="localstripe-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--from-scratch"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "LOCALSTRIPE_STORE": store_path},
    )
    server = LocalStripe(port=port, process=process, store_path=store_path, log_path=log.name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            requests.get(f"{server.url}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=1)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    output = Path(log.name).read_text(errors="replace")[-500:] if Path(log.name).exists() else ""
    raise LocalStripeUnavailable(f"localstripe did not answer on port {port}: {output}")


def _run() -> None:
    """Start localstripe with the two documented adjustments described above."""
    from localstripe import resources

    store_path = os.environ.get("LOCALSTRIPE_STORE") or tempfile.mkstemp(suffix=".pickle")[1]

    def dump_to_disk(self):
        with open(store_path, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.dump_to_disk = dump_to_disk

    original_confirm = resources.PaymentIntent._api_confirm.__func__

    def confirm(cls, id, payment_method=None, off_session=None, **kwargs):
        return original_confirm(cls, id, payment_method=payment_method, **kwargs)

    resources.PaymentIntent._api_confirm = classmethod(confirm)
    # The routes are built from `extra_apis` when the server module is imported: swap the entry first.
    for index, (method, url, _func) in enumerate(resources.extra_apis):
        if url == "/v1/payment_intents/{id}/confirm":
            resources.extra_apis[index] = (method, url, resources.PaymentIntent._api_confirm)

    from localstripe import server

    server.start()


if __name__ == "__main__":
    _run()
