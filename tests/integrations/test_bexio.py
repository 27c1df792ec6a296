"""BexioClient against the bexio fake over real HTTP: paging, the token, retries, and errors that name bexio."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

import pytest

from pieced_admin.integrations.bexio import BexioClient, BexioError, BexioNotConfigured, client_from_config
from tests.peers.bexio_fake import ACCOUNTS_PATH, MANUAL_ENTRIES_PATH, SWISS_SME_ACCOUNTS, BexioFake

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def bexio():
    with BexioFake() as fake:
        yield fake


def make_client(fake: BexioFake, **options) -> BexioClient:
    return BexioClient(fake.url, fake.token, **{"timeout": 2.0, "retries": 2, "backoff": 0.001, **options})


def _body(reference="PC-1", amount=Decimal("900.00"), debit=None, credit=None, fake=None):
    return {"type": "manual_single_entry", "date": "2026-10-01", "reference_nr": reference,
            "entries": [{"debit_account_id": debit or fake.account_id("1100"),
                         "credit_account_id": credit or fake.account_id("3400"),
                         "amount": amount, "description": "Invoice PC-1 Zürich AG, tenant fees"}]}


def test_account_ids_map_every_account_number_over_all_pages(bexio):
    for n in range(30):
        bexio.add_account(f"6{n:03d}", f"Aufwand {n}", account_type=2)
    client = make_client(bexio, page_size=7)
    ids = client.account_ids()
    assert len(ids) == len(SWISS_SME_ACCOUNTS) + 30
    assert ids["1100"] == bexio.account_id("1100") != 1100
    assert ids["6029"] == bexio.account_id("6029")
    pages = bexio.requests_to("GET", ACCOUNTS_PATH)
    # 42 accounts, 7 a page: 6 full pages, then the empty one that ends the list
    assert [r.params for r in pages] == [{"limit": "7", "offset": str(7 * n)} for n in range(7)]
    assert {r.authorization for r in pages} == {f"Bearer {bexio.token}"}


def test_a_page_bexio_cuts_shorter_than_asked_does_not_end_the_list(bexio):
    bexio.max_limit = 5  # bexio answers at most 5, whatever we ask
    for n in range(20):
        bexio.book(_body(f"PC-{n}", fake=bexio))
    entries = make_client(bexio, page_size=50).manual_entries()
    assert [e["reference_nr"] for e in entries] == [f"PC-{n}" for n in range(20)]
    assert [r.params["offset"] for r in bexio.requests_to("GET", MANUAL_ENTRIES_PATH)] == ["0", "5", "10", "15", "20"]


def test_create_sends_the_documented_body_with_amounts_as_numbers_of_two_places(bexio):
    created = make_client(bexio).create_manual_entry(_body(amount=Decimal("5.00"), fake=bexio))
    assert created["id"] == 1 and created["entries"][0]["amount"] == 5.0
    (post,) = bexio.requests_to("POST", MANUAL_ENTRIES_PATH)
    assert '"amount":5.00' in post.raw and "Zürich" in post.raw  # not 5.0, not "5.00"; UTF-8, not escaped
    assert json.loads(post.raw)["entries"][0]["debit_account_id"] == bexio.account_id("1100")


def test_a_wrong_token_names_bexio_the_status_and_bexios_message(bexio):
    with pytest.raises(BexioError) as caught:
        BexioClient(bexio.url, "pat-wrong", retries=0).account_ids()
    message = str(caught.value)
    assert caught.value.status == 401
    assert message.startswith("bexio refused the token while listing the accounts (HTTP 401: Invalid token.)")
    assert "BEXIO_TOKEN" in message and "pat-wrong" not in message
    assert len(bexio.requests) == 1  # a refused token is not tried again


def test_a_refused_body_is_bexios_422_with_its_messages(bexio):
    with pytest.raises(BexioError) as caught:
        make_client(bexio).create_manual_entry(_body(debit=999_999, fake=bexio))
    assert caught.value.status == 422 and not caught.value.ambiguous
    assert "bexio refused booking manual entry PC-1 (HTTP 422: The given data was invalid.; " \
           "entries[0].debit_account_id: account 999999 does not exist)" == str(caught.value)
    assert bexio.entries == []


def test_reads_are_retried_on_429_and_5xx(bexio):
    bexio.fail("GET", ACCOUNTS_PATH, 429, retry_after="0")
    bexio.fail("GET", ACCOUNTS_PATH, 503)
    assert make_client(bexio).account_ids()["1020"] == bexio.account_id("1020")
    assert [r.status for r in bexio.requests_to("GET", ACCOUNTS_PATH)] == [429, 503, 200, 200]


def test_a_read_that_keeps_failing_says_so_after_the_last_attempt(bexio):
    bexio.fail("GET", MANUAL_ENTRIES_PATH, 500, times=10)
    with pytest.raises(BexioError) as caught:
        make_client(bexio, retries=2).manual_entries()
    assert str(caught.value) == ("bexio had an internal error while listing the manual entries (HTTP 500: Internal "
                                 "Server Error) after 3 attempt(s); try again in a few minutes")
    assert len(bexio.requests_to("GET", MANUAL_ENTRIES_PATH)) == 3


def test_a_booking_is_retried_on_429_but_not_on_500_which_may_have_booked_it(bexio):
    client = make_client(bexio)
    bexio.fail("POST", MANUAL_ENTRIES_PATH, 429)
    assert client.create_manual_entry(_body(fake=bexio))["id"] == 1
    bexio.fail("POST", MANUAL_ENTRIES_PATH, 500, book=True)
    with pytest.raises(BexioError) as caught:
        client.create_manual_entry(_body("PC-2", fake=bexio))
    assert caught.value.ambiguous and caught.value.status == 500
    assert "may have booked it anyway" in str(caught.value)
    assert [e["reference_nr"] for e in bexio.entries] == ["PC-1", "PC-2"]  # each once: the 500 was not repeated
    assert [r.status for r in bexio.requests_to("POST", MANUAL_ENTRIES_PATH)] == [429, 201, 500]


def test_retry_after_is_followed_up_to_the_longest_wait(bexio):
    bexio.fail("GET", ACCOUNTS_PATH, 429, retry_after="0.3")
    started = time.monotonic()
    make_client(bexio, max_wait=5).account_ids()
    assert time.monotonic() - started >= 0.3


def test_bexio_down_is_named_with_its_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = BexioClient(f"http://127.0.0.1:{port}", "pat-x", timeout=1, retries=1, backoff=0.001)
    with pytest.raises(BexioError) as caught:
        client.account_ids()
    assert str(caught.value).startswith(f"bexio at 127.0.0.1:{port} did not answer listing the accounts (")
    assert "check BEXIO_API_URL" in str(caught.value)
    with pytest.raises(BexioError) as caught:
        client.create_manual_entry({"type": "manual_single_entry", "reference_nr": "PC-1", "entries": []})
    assert not caught.value.ambiguous  # the connection was never opened: nothing can have been booked


def test_not_configured_without_a_token():
    with pytest.raises(BexioNotConfigured, match="set BEXIO_TOKEN"):
        client_from_config({"BEXIO_API_URL": "https://api.bexio.com", "BEXIO_TOKEN": ""})
    client = client_from_config({"BEXIO_TOKEN": "pat-1", "BEXIO_RETRY_DELAY": "0.01"})
    assert client.base_url == "https://api.bexio.com" and client.backoff == 0.01 and "pat-1" not in repr(client)
