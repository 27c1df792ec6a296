"""The bexio fake checks what bexio's API documents: the token, the Accept header, and manual-entry bodies."""

from __future__ import annotations

import pytest
import requests

from tests.peers.bexio_fake import ACCOUNTS_PATH, MANUAL_ENTRIES_PATH, BexioFake

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def bexio():
    with BexioFake(max_limit=3) as fake:
        yield fake


def _headers(fake, **extra):
    return {"Authorization": f"Bearer {fake.token}", "Accept": "application/json", **extra}


def _post(fake, body):
    return requests.post(fake.url + MANUAL_ENTRIES_PATH, json=body, headers=_headers(fake), timeout=5)


def _single(fake, **changes):
    line = {"debit_account_id": fake.account_id("1100"), "credit_account_id": fake.account_id("3400"),
            "amount": 12.5, "description": "Invoice PC-1"}
    line.update(changes.pop("line", {}))
    return {"type": "manual_single_entry", "date": "2026-11-02", "reference_nr": "PC-1", "entries": [line], **changes}


def test_the_token_and_json_are_required(bexio):
    assert requests.get(bexio.url + ACCOUNTS_PATH, timeout=5).json() == {"error_code": 401, "message": "Invalid token."}
    assert requests.get(bexio.url + ACCOUNTS_PATH, headers={"Authorization": f"Bearer {bexio.token}"},
                        timeout=5).status_code == 406


def test_accounts_page_with_limit_and_offset_cut_at_the_maximum(bexio):
    page = requests.get(bexio.url + ACCOUNTS_PATH, params={"limit": 10, "offset": 1}, headers=_headers(bexio),
                        timeout=5).json()
    assert [a["account_no"] for a in page] == ["1020", "1100", "1170"]  # 10 asked, 3 at most, from the second
    assert page[0]["id"] == bexio.account_id("1020") != 1020


def test_a_valid_single_entry_is_stored_and_listed(bexio):
    created = _post(bexio, _single(bexio))
    assert created.status_code == 201
    body = created.json()
    assert body["entries"][0]["amount"] == 12.5 and body["reference_nr"] == "PC-1"
    listed = requests.get(bexio.url + MANUAL_ENTRIES_PATH, headers=_headers(bexio), timeout=5).json()
    assert [e["id"] for e in listed] == [body["id"]]


@pytest.mark.parametrize("changes, says", [
    ({"type": "manual_entry"}, "type: must be one of"),
    ({"date": "02.11.2026"}, "date: must be a date as YYYY-MM-DD"),
    ({"date": "2026-02-30"}, "date: must be a date as YYYY-MM-DD"),
    ({"entries": []}, "entries: must be a non-empty list"),
    ({"line": {"amount": 0}}, "entries[0].amount: must be a positive number"),
    ({"line": {"amount": "12.50"}}, "entries[0].amount: must be a positive number"),
    ({"line": {"debit_account_id": 1100}}, "entries[0].debit_account_id: account 1100 does not exist"),
    ({"line": {"credit_account_id": None}}, "entries[0].credit_account_id: must be an account id"),
])
def test_bodies_bexio_would_refuse_are_422_with_its_message(bexio, changes, says):
    answer = _post(bexio, _single(bexio, **changes))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error_code"] == 422 and body["message"] == "The given data was invalid."
    assert any(e.startswith(says) for e in body["errors"]), body
    assert bexio.entries == []


def test_faults_answer_after_n_requests_and_can_book_first(bexio):
    bexio.fail("POST", MANUAL_ENTRIES_PATH, 500, after=1, book=True)
    assert _post(bexio, _single(bexio)).status_code == 201
    assert _post(bexio, _single(bexio, reference_nr="PC-2")).status_code == 500
    assert [e["reference_nr"] for e in bexio.entries] == ["PC-1", "PC-2"]
