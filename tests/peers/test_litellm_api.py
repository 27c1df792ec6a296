"""The fake LiteLLM proxy answers with LiteLLM's JSON shapes."""

from __future__ import annotations

import pytest
import requests

from tests.peers.litellm_api import AGGREGATED_PATH, PAGINATED_PATH, LiteLLMServer

KEY = "sk-fake"
AUTH = {"Authorization": f"Bearer {KEY}"}
FEB = {"team_ids": "acme", "start_date": "2024-02-01", "end_date": "2024-02-29"}

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def proxy():
    with LiteLLMServer(api_key=KEY) as server:
        server.set_spend("acme", "2024-02-01", 1.0)
        server.set_spend("acme", "2024-02-02", 2.0)
        server.add_spend("acme", "2024-02-02", 0.5, model="gpt-4o")
        server.set_spend("acme", "2024-03-01", 100.0)
        server.set_spend("other", "2024-02-01", 9.0)
        yield server


def test_aggregated_shape(proxy):
    body = requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).json()
    assert body["metadata"]["total_spend"] == 3.5
    assert body["metadata"]["page"] == 1 and body["metadata"]["total_pages"] == 1 and body["metadata"]["has_more"] is False
    assert [(r["date"], r["metrics"]["spend"]) for r in body["results"]] == [("2024-02-02", 2.5), ("2024-02-01", 1.0)]
    assert set(body["results"][0]["breakdown"]["models"]) == {"gpt-4o", "gpt-4o-mini"}
    assert body["results"][0]["breakdown"]["entities"]["acme"]["metrics"]["spend"] == 2.5


def test_paginated_pages_rows_and_totals_per_page(proxy):
    pages = []
    for page in (1, 2):
        response = requests.get(proxy.url + PAGINATED_PATH, params={**FEB, "page": page, "page_size": 2}, headers=AUTH, timeout=5)
        pages.append(response.json())
    first, second = pages
    # Rows newest first: (02-02, gpt-4o-mini 2.0), (02-02, gpt-4o 0.5) | (02-01, 1.0)
    assert first["metadata"] == {**first["metadata"], "page": 1, "total_pages": 2, "has_more": True, "total_spend": 2.5}
    assert second["metadata"] == {**second["metadata"], "page": 2, "total_pages": 2, "has_more": False, "total_spend": 1.0}
    assert [r["date"] for r in first["results"]] == ["2024-02-02"]
    assert [r["date"] for r in second["results"]] == ["2024-02-01"]


def test_one_day_can_span_two_pages(proxy):
    spends = []
    for page in (1, 2, 3):
        body = requests.get(proxy.url + PAGINATED_PATH, params={**FEB, "page": page, "page_size": 1}, headers=AUTH, timeout=5).json()
        spends += [(r["date"], r["metrics"]["spend"]) for r in body["results"]]
    assert spends == [("2024-02-02", 2.0), ("2024-02-02", 0.5), ("2024-02-01", 1.0)]


def test_auth_missing_routes_and_bad_requests(proxy):
    unauthorized = requests.get(proxy.url + AGGREGATED_PATH, params=FEB, timeout=5)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["type"] == "auth_error"
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    proxy.aggregated_available = False
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).json() == {"detail": "Not Found"}
    missing_dates = requests.get(proxy.url + PAGINATED_PATH, params={"team_ids": "acme"}, headers=AUTH, timeout=5)
    assert missing_dates.status_code == 400
    assert [r.path for r in proxy.requests] == [AGGREGATED_PATH, AGGREGATED_PATH, AGGREGATED_PATH, PAGINATED_PATH]
    assert proxy.requests[0].params == FEB and proxy.requests[0].authorization is None


def test_failures_can_be_injected(proxy):
    proxy.fail_next(1, status=503)
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).status_code == 503
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).status_code == 200
    proxy.fail_team("acme")
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).status_code == 500
    assert requests.get(proxy.url + AGGREGATED_PATH, params={**FEB, "team_ids": "other"}, headers=AUTH, timeout=5).status_code == 200
    proxy.fail_team("acme", None)
    assert requests.get(proxy.url + AGGREGATED_PATH, params=FEB, headers=AUTH, timeout=5).status_code == 200
    assert proxy.spend("acme", "2024-02-01", "2024-02-29") == 3.5
