"""LiteLLMClient against a LiteLLM-shaped proxy over real HTTP."""

from __future__ import annotations

import socket
import time
from datetime import date
from decimal import Decimal

import pytest

from pieced_admin.integrations.litellm import LiteLLMClient, LiteLLMError, team_id_for
from tests.peers.litellm_api import AGGREGATED_PATH, PAGINATED_PATH, LiteLLMServer

KEY = "sk-test-master-key"
FEB_FIRST, FEB_LAST = date(2024, 2, 1), date(2024, 2, 29)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def proxy():
    with LiteLLMServer(api_key=KEY) as server:
        yield server


def make_client(proxy: LiteLLMServer, **kwargs) -> LiteLLMClient:
    options = {"timeout": 2.0, "retries": 3, "backoff": 0.001, **kwargs}
    return LiteLLMClient(proxy.url, KEY, **options)


@pytest.fixture
def litellm(proxy):
    with make_client(proxy) as client:
        yield client


def test_month_spend_from_the_aggregated_endpoint(proxy, litellm):
    proxy.set_spend("acme", "2024-01-31", 100)  # outside the month
    proxy.set_spend("acme", "2024-02-01", 1.25)  # first day
    proxy.set_spend("acme", "2024-02-14", 0.1)
    proxy.add_spend("acme", "2024-02-14", 0.2, model="gpt-4o")
    proxy.set_spend("acme", "2024-02-29", 2)  # last day (leap year)
    proxy.set_spend("acme", "2024-03-01", 100)  # outside the month
    proxy.set_spend("other", "2024-02-10", 7)  # another team

    spend = litellm.team_spend("acme", FEB_FIRST, FEB_LAST)

    # Exactly as LiteLLM reports it, float noise and all (1.25 + 0.1 + 0.2 + 2 summed as floats):
    # the invoice line rounds once, at the cent.
    assert spend == Decimal("3.5500000000000003")
    [request] = proxy.requests
    assert request.path == AGGREGATED_PATH
    assert request.params == {"team_ids": "acme", "start_date": "2024-02-01", "end_date": "2024-02-29"}
    assert request.authorization == f"Bearer {KEY}"


def test_spend_is_kept_exactly_as_reported(proxy, litellm):
    # No rounding here: 1.0049996 USD must reach the line as is, so that at 1 CHF/USD
    # the line is round(1.0049996) = 1.00, not round(round(1.0049996, 6) = 1.005) = 1.01.
    proxy.set_spend("acme", "2024-02-03", 1.0049996)
    assert litellm.team_spend("acme", FEB_FIRST, FEB_LAST) == Decimal("1.0049996")


def test_no_spend_is_zero(proxy, litellm):
    assert litellm.team_spend("nobody", FEB_FIRST, FEB_LAST) == 0


def test_falls_back_to_pages_when_aggregated_is_missing(proxy):
    proxy.aggregated_available = False
    proxy.set_spend("acme", "2024-02-01", 1.5)
    proxy.set_spend("acme", "2024-02-02", 0.25)
    proxy.set_spend("acme", "2024-02-03", 0.125)
    proxy.add_spend("acme", "2024-02-03", 3, model="gpt-4o")  # one day over two rows
    proxy.set_spend("acme", "2024-02-29", 0.000001)
    proxy.set_spend("acme", "2024-03-01", 50)

    with make_client(proxy, page_size=2) as client:
        spend = client.team_spend("acme", FEB_FIRST, FEB_LAST)

    assert spend == Decimal("4.875001")
    paths = [(r.path, r.params.get("page")) for r in proxy.requests]
    assert paths == [(AGGREGATED_PATH, None), (PAGINATED_PATH, "1"), (PAGINATED_PATH, "2"), (PAGINATED_PATH, "3")]
    for request in proxy.asked(PAGINATED_PATH):
        assert request.params["team_ids"] == "acme"
        assert (request.params["start_date"], request.params["end_date"]) == ("2024-02-01", "2024-02-29")
        assert request.params["page_size"] == "2"
        assert request.authorization == f"Bearer {KEY}"


def test_pages_that_never_end_are_refused(proxy):
    proxy.aggregated_available = False
    proxy.endless_pages = True
    with make_client(proxy, max_pages=5) as client, pytest.raises(LiteLLMError) as caught:
        client.team_spend("acme", FEB_FIRST, FEB_LAST)
    assert str(caught.value).startswith("LiteLLM")
    assert "5 pages" in str(caught.value)
    assert len(proxy.asked(PAGINATED_PATH)) == 5


def test_retries_after_two_server_errors(proxy, litellm):
    proxy.set_spend("acme", "2024-02-10", 4.5)
    proxy.fail_next(2, status=500)
    assert litellm.team_spend("acme", FEB_FIRST, FEB_LAST) == Decimal("4.5")
    assert [r.status for r in proxy.requests] == [500, 500, 200]


def test_retries_after_rate_limit(proxy, litellm):
    proxy.fail_next(1, status=429)
    assert litellm.team_spend("acme", FEB_FIRST, FEB_LAST) == Decimal(0)
    assert [r.status for r in proxy.requests] == [429, 200]


def test_gives_up_after_the_retries(proxy, litellm):
    proxy.fail_next(10, status=503)
    with pytest.raises(LiteLLMError) as caught:
        litellm.team_spend("acme", FEB_FIRST, FEB_LAST)
    message = str(caught.value)
    assert message.startswith("LiteLLM")
    assert proxy.url.split("//")[1] in message  # the host
    assert "HTTP 503" in message
    assert len(proxy.requests) == 4  # first try and three retries


def test_rejected_key_fails_at_once(proxy):
    with LiteLLMClient(proxy.url, "sk-wrong", retries=3, backoff=0.001) as client, pytest.raises(LiteLLMError) as caught:
        client.team_spend("acme", FEB_FIRST, FEB_LAST)
    assert str(caught.value) == "LiteLLM rejected the API key (HTTP 401): check LITELLM_API_KEY"
    assert caught.value.status == 401
    assert len(proxy.requests) == 1
    assert "sk-wrong" not in str(caught.value)


def test_timeout_names_litellm(proxy):
    proxy.delay = 3.0
    started = time.monotonic()
    with make_client(proxy, timeout=0.2, retries=1) as client, pytest.raises(LiteLLMError) as caught:
        client.team_spend("acme", FEB_FIRST, FEB_LAST)
    assert time.monotonic() - started < 2.5  # two attempts of 0.2 s, not the 3 s answer
    message = str(caught.value)
    assert message.startswith("LiteLLM")
    assert proxy.url.split("//")[1] in message
    assert "timed out" in message.lower()
    assert len(proxy.requests) == 2


def test_unreachable_proxy_names_litellm():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with LiteLLMClient(f"http://127.0.0.1:{port}", KEY, retries=1, backoff=0.001) as client, pytest.raises(LiteLLMError) as caught:
        client.team_spend("acme", FEB_FIRST, FEB_LAST)
    assert str(caught.value).startswith("LiteLLM")
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_spend_for_teams_keeps_order_and_fails_loudly(proxy, litellm):
    proxy.set_spend("b-team", "2024-02-02", 2)
    proxy.set_spend("a-team", "2024-02-02", 1)
    spend = litellm.spend_for_teams(["b-team", "a-team", "b-team"], FEB_FIRST, FEB_LAST)
    assert list(spend.items()) == [("b-team", Decimal(2)), ("a-team", Decimal(1))]

    proxy.fail_team("a-team")
    with pytest.raises(LiteLLMError):
        litellm.spend_for_teams(["b-team", "a-team"], FEB_FIRST, FEB_LAST)


def test_team_id_label_overrides_the_tenant_name(proxy, litellm):
    assert team_id_for("acme", None) == "acme"
    assert team_id_for("acme", {"pieced.ch/zitadel-org-id": "org-1"}) == "acme"
    assert team_id_for("acme", {"pieced.ch/litellm-team-id": "team-42"}) == "team-42"
    assert team_id_for("acme", {"pieced.ch/litellm-team-id": " "}) == "acme"

    proxy.set_spend("team-42", "2024-02-05", 9.99)
    proxy.set_spend("acme", "2024-02-05", 1)
    team = team_id_for("acme", {"pieced.ch/litellm-team-id": "team-42"})
    assert litellm.team_spend(team, FEB_FIRST, FEB_LAST) == Decimal("9.99")
    assert proxy.requests[-1].params["team_ids"] == "team-42"


@pytest.mark.parametrize("team", ["", " ", "a,b"])
def test_team_id_must_name_one_team(proxy, litellm, team):
    # LiteLLM reads an empty team_ids as every team: never ask that.
    with pytest.raises(LiteLLMError):
        litellm.team_spend(team, FEB_FIRST, FEB_LAST)
    assert proxy.requests == []
