"""The fake Kubernetes API server, checked through the real kubernetes client.

These tests pin down what the watcher and the tenant actions will see from
``kubernetes`` (installed version) when talking to a real API server, so
they also document the client's behaviour on watch errors.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import datetime, timezone

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException, ConflictException, NotFoundException

from tests.peers.kube_api import (
    MERGE_PATCH,
    ORG_LABEL,
    TEAM_LABEL,
    KubeAPIServer,
    json_patch,
    merge_patch,
    tenant,
)

G, V, P = "pieced.ch", "v1", "piecedtenants"

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def server():
    with KubeAPIServer() as srv:
        yield srv


@pytest.fixture
def api(server):
    api_client = client.ApiClient(client.Configuration(host=server.url))
    yield client.CustomObjectsApi(api_client)
    api_client.close()


class Stream:
    """Runs ``Watch().stream(...)`` in a thread and collects what it yields."""

    def __init__(self, func, *args, **kwargs):
        self.watch = watch.Watch()
        self.items: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(func, args, kwargs), daemon=True)
        self.thread.start()

    def _run(self, func, args, kwargs):
        try:
            for event in self.watch.stream(func, *args, **kwargs):
                self.items.put(("event", event, time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            self.items.put(("error", exc, time.monotonic()))
        else:
            self.items.put(("end", None, time.monotonic()))

    def next(self, timeout: float = 5.0):
        return self.items.get(timeout=timeout)

    def event(self, timeout: float = 5.0):
        kind, value, _ = self.next(timeout)
        assert kind == "event", (kind, value)
        return value

    def close(self, server: KubeAPIServer):
        self.watch.stop()
        server.end_watches()
        self.thread.join(5)


def test_list_all_namespaces_and_one_namespace(server, api):
    server.create(tenant("acme", "org-1", ["chat"]))
    server.create(tenant("zeta", "org-2", namespace="other"))

    everything = api.list_cluster_custom_object(G, V, P)
    assert everything["kind"] == "PiecedTenantList"
    assert everything["apiVersion"] == "pieced.ch/v1"
    assert everything["metadata"]["resourceVersion"] == server.resource_version
    assert [i["metadata"]["name"] for i in everything["items"]] == ["zeta", "acme"]  # etcd key order: ns/name
    assert all(i["kind"] == "PiecedTenant" for i in everything["items"])

    one = api.list_namespaced_custom_object(G, V, "tenants", P)
    assert [i["metadata"]["name"] for i in one["items"]] == ["acme"]
    assert one["metadata"]["resourceVersion"] == server.resource_version

    selected = api.list_cluster_custom_object(G, V, P, label_selector=f"{ORG_LABEL}=org-2")
    assert [i["metadata"]["name"] for i in selected["items"]] == ["zeta"]
    assert api.list_cluster_custom_object(G, V, P, label_selector=f"{ORG_LABEL}!=org-2")["items"][0]["metadata"]["name"] == "acme"
    assert api.list_cluster_custom_object(G, V, P, field_selector="metadata.name=acme")["items"][0]["metadata"]["namespace"] == "tenants"


def test_list_pages_with_limit_and_continue(server, api):
    for name in ("a", "b", "c"):
        server.create(tenant(name, "org"))
    first = api.list_namespaced_custom_object(G, V, "tenants", P, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
    second = api.list_namespaced_custom_object(G, V, "tenants", P, limit=2, _continue=first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in second["items"]] == ["c"]
    assert "continue" not in second["metadata"]


def test_get_and_not_found_status(server, api):
    created = server.create(tenant("acme", "org-1", ["chat"], created=datetime(2024, 3, 5, 8, 30, tzinfo=timezone.utc)))
    got = api.get_namespaced_custom_object(G, V, "tenants", P, "acme")
    assert got == created
    assert got["metadata"]["creationTimestamp"] == "2024-03-05T08:30:00Z"
    assert got["metadata"]["resourceVersion"] == server.resource_version

    with pytest.raises(NotFoundException) as caught:
        api.get_namespaced_custom_object(G, V, "tenants", P, "missing")
    assert caught.value.status == 404
    status = json.loads(caught.value.body)
    assert status["kind"] == "Status" and status["code"] == 404 and status["reason"] == "NotFound"
    assert status["message"] == 'piecedtenants.pieced.ch "missing" not found'


def test_merge_patch_through_the_client(server, api):
    server.create(tenant("acme", "org-1", ["chat", "mail"], labels={"keep": "yes", "drop": "me"}))
    before = server.get("tenants", "acme")

    result = api.patch_namespaced_custom_object(
        G, V, "tenants", P, "acme", {"spec": {"packages": ["chat"], "suspend": True}, "metadata": {"labels": {"drop": None}}}
    )

    # This client version sends every PATCH body of patch_namespaced_custom_object
    # as application/merge-patch+json.
    recorded = server.patches[-1]
    assert recorded.content_type == MERGE_PATCH
    assert recorded.path == "/apis/pieced.ch/v1/namespaces/tenants/piecedtenants/acme"
    assert recorded.body == {"spec": {"packages": ["chat"], "suspend": True}, "metadata": {"labels": {"drop": None}}}
    assert result["spec"] == {"packages": ["chat"], "suspend": True}  # lists replace
    assert result["metadata"]["labels"] == {ORG_LABEL: "org-1", "keep": "yes"}  # null deletes
    assert int(result["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert result["metadata"]["generation"] == 2
    assert server.get("tenants", "acme") == result

    # A patch that changes nothing keeps the resourceVersion.
    again = api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", {"spec": {"suspend": True}})
    assert again["metadata"]["resourceVersion"] == result["metadata"]["resourceVersion"]


def test_patch_with_stale_resource_version_conflicts(server, api):
    server.create(tenant("acme", "org-1"))
    stale = server.resource_version
    server.modify("tenants", "acme", {"spec": {"packages": ["x"]}})
    with pytest.raises(ConflictException) as caught:
        api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", {"metadata": {"resourceVersion": stale}, "spec": {"suspend": True}})
    assert caught.value.status == 409
    assert server.get("tenants", "acme")["spec"]["suspend"] is False


def test_status_goes_through_the_status_subresource(server, api):
    server.create(tenant("acme", "org-1"))
    ignored = api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", {"status": {"suspendedAt": "2024-01-01T00:00:00Z"}})
    assert "status" not in ignored
    done = api.patch_namespaced_custom_object_status(G, V, "tenants", P, "acme", {"status": {"suspendedAt": "2024-01-01T00:00:00Z"}})
    assert done["status"] == {"suspendedAt": "2024-01-01T00:00:00Z"}
    assert server.patches[-1].subresource == "status"


def test_list_body_is_sent_as_merge_patch_and_json_patch_needs_content_type(server, api):
    server.create(tenant("acme", "org-1", ["chat"]))
    ops = [{"op": "test", "path": "/spec/suspend", "value": False}, {"op": "replace", "path": "/spec/suspend", "value": True}]
    # The client does not switch to json-patch for a list body: it still says
    # merge-patch, and a JSON array is not a valid merge patch of an object.
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", ops)
    assert caught.value.status == 422
    assert server.patches[-1].content_type == MERGE_PATCH

    result = api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", ops, _content_type="application/json-patch+json")
    assert server.patches[-1].content_type == "application/json-patch+json"
    assert result["spec"]["suspend"] is True
    with pytest.raises(ApiException) as failed_test:
        api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", ops, _content_type="application/json-patch+json")
    assert failed_test.value.status == 422

    with pytest.raises(ApiException) as unsupported:
        api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", {"spec": {}}, _content_type="application/strategic-merge-patch+json")
    assert unsupported.value.status == 415


def test_create_and_delete_through_the_client(server, api):
    body = tenant("acme", "org-1", ["chat"], suspended_at="2024-02-01T00:00:00Z")
    created = api.create_namespaced_custom_object(G, V, "tenants", P, body)
    assert created["metadata"]["resourceVersion"] == server.resource_version
    assert "status" not in created  # status is set through its subresource only
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_custom_object(G, V, "tenants", P, body)
    assert exists.value.status == 409

    last = api.delete_namespaced_custom_object(G, V, "tenants", P, "acme")
    assert last["metadata"]["name"] == "acme"
    assert last["metadata"]["deletionTimestamp"].endswith("Z")
    assert server.get("tenants", "acme") is None
    with pytest.raises(NotFoundException):
        api.delete_namespaced_custom_object(G, V, "tenants", P, "acme")


def test_watch_streams_added_modified_deleted_bookmark_in_order(server, api):
    server.create(tenant("acme", "org-1", ["chat"]))
    listed = api.list_cluster_custom_object(G, V, P)
    rv = listed["metadata"]["resourceVersion"]
    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=rv, allow_watch_bookmarks=True)
    try:
        server.wait_for_watches()
        assert server.requests[-1].query == {"allowWatchBookmarks": "true", "resourceVersion": rv, "watch": "true"}

        sent = time.monotonic()
        server.create(tenant("beta", "org-2"))
        added = stream.event()
        # Delivered while the stream stays open: the client reads chunks as they come.
        assert time.monotonic() - sent < 3.0
        api.patch_namespaced_custom_object(G, V, "tenants", P, "beta", {"spec": {"suspend": True}})
        modified = stream.event()
        bookmark_rv = server.bookmark()
        bookmark = stream.event()
        server.delete("tenants", "beta")
        deleted = stream.event()
    finally:
        stream.close(server)

    assert [e["type"] for e in (added, modified, bookmark, deleted)] == ["ADDED", "MODIFIED", "BOOKMARK", "DELETED"]
    # For custom objects the client leaves "object" as a plain dict.
    assert isinstance(added["object"], dict) and added["object"] == added["raw_object"]
    assert added["object"]["metadata"]["name"] == "beta"
    assert modified["object"]["spec"]["suspend"] is True
    assert bookmark["object"] == {"kind": "PiecedTenant", "apiVersion": "pieced.ch/v1", "metadata": {"resourceVersion": bookmark_rv}}
    assert deleted["object"]["spec"]["suspend"] is True  # last state
    assert deleted["object"]["metadata"]["deletionTimestamp"].endswith("Z")
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in (added, modified, deleted)]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert stream.watch.resource_version == deleted["object"]["metadata"]["resourceVersion"]


def test_watch_replays_history_after_the_resource_version(server, api):
    server.create(tenant("acme", "org-1"))
    rv = server.resource_version
    server.modify("tenants", "acme", {"spec": {"packages": ["chat"]}})
    server.create(tenant("beta", "org-2"))
    events = list(watch.Watch().stream(api.list_cluster_custom_object, G, V, P, resource_version=rv, timeout_seconds=1))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "acme"), ("ADDED", "beta")]


def test_watch_without_resource_version_starts_with_current_state(server, api):
    server.create(tenant("acme", "org-1"))
    server.create(tenant("beta", "org-2", namespace="other"))
    events = list(watch.Watch().stream(api.list_namespaced_custom_object, G, V, "tenants", P, timeout_seconds=1))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "acme")]


def test_bookmarks_only_for_watchers_that_asked(server, api):
    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version, timeout_seconds=1)
    server.wait_for_watches()
    server.bookmark()
    assert stream.next()[0] == "end"


def test_stale_resource_version_raises_410_after_one_silent_retry(server, api):
    server.create(tenant("acme", "org-1"))
    stale = server.resource_version
    server.modify("tenants", "acme", {"spec": {"suspend": True}})
    server.compact()

    before = len(server.requests)
    with pytest.raises(ApiException) as caught:
        next(iter(watch.Watch().stream(api.list_cluster_custom_object, G, V, P, resource_version=stale)))
    # Not a subclass: a plain ApiException with status 410 and reason "Expired: <message>".
    assert type(caught.value) is ApiException
    assert caught.value.status == 410
    assert caught.value.reason.startswith("Expired: too old resource version")
    # Without timeout_seconds the client retries once from the same version before raising.
    assert [r.query.get("resourceVersion") for r in server.requests[before:]] == [stale, stale]

    before = len(server.requests)
    with pytest.raises(ApiException) as again:
        list(watch.Watch().stream(api.list_cluster_custom_object, G, V, P, resource_version=stale, timeout_seconds=5))
    assert again.value.status == 410
    assert len(server.requests) - before == 1  # with timeout_seconds: no retry

    # The raw stream is what the API server sends: one ERROR event with a 410 Status.
    raw = api.list_cluster_custom_object(G, V, P, watch=True, resource_version=stale, _preload_content=False)
    lines = raw.data.decode().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"]["kind"] == "Status" and event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_dropped_watch_connection_raises_protocol_error(server, api):
    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version)
    server.wait_for_watches()
    assert server.drop_watches() == 1
    kind, error, _ = stream.next()
    assert kind == "error"
    assert isinstance(error, urllib3.exceptions.ProtocolError)
    assert not isinstance(error, ApiException)
    assert "ended prematurely" in str(error)

    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version)
    server.wait_for_watches()
    server.drop_watches(how="reset")
    kind, error, _ = stream.next()
    assert kind == "error" and isinstance(error, urllib3.exceptions.ProtocolError)
    assert "reset" in str(error).lower()


def test_watch_ends_after_timeout_seconds(server, api):
    started = time.monotonic()
    events = list(watch.Watch().stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version, timeout_seconds=1))
    assert events == []
    assert 0.9 < time.monotonic() - started < 5


def test_clean_end_without_timeout_makes_the_client_reconnect_from_the_last_version(server, api):
    rv = server.resource_version
    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=rv)
    try:
        server.wait_for_watches()
        server.create(tenant("acme", "org-1"))
        first = stream.event()
        before = len(server.requests)
        server.end_watches()
        deadline = time.monotonic() + 5
        while len(server.requests) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.requests[before].query["resourceVersion"] == first["object"]["metadata"]["resourceVersion"]
        server.create(tenant("beta", "org-1"))
        assert stream.event()["object"]["metadata"]["name"] == "beta"
    finally:
        stream.close(server)


def test_watch_request_failing_with_500_raises_api_exception(server, api):
    server.fail_next(500, method="GET")
    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version, timeout_seconds=1))
    assert caught.value.status == 500


def test_label_selector_watch_sees_objects_leave_and_enter(server, api):
    server.create(tenant("acme", "org-1", labels={"tier": "gold"}))
    stream = Stream(
        api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version, label_selector="tier=gold"
    )
    try:
        server.wait_for_watches()
        server.modify("tenants", "acme", {"metadata": {"labels": {"tier": "silver"}}})
        assert stream.event()["type"] == "DELETED"
        server.modify("tenants", "acme", {"metadata": {"labels": {"tier": "gold"}}})
        assert stream.event()["type"] == "ADDED"
    finally:
        stream.close(server)


def test_finalizers_delay_deletion(server, api):
    obj = tenant("acme", "org-1")
    obj["metadata"]["finalizers"] = ["pieced.ch/cleanup"]
    server.create(obj)
    stream = Stream(api.list_cluster_custom_object, G, V, P, resource_version=server.resource_version)
    try:
        server.wait_for_watches()
        api.delete_namespaced_custom_object(G, V, "tenants", P, "acme")
        marked = stream.event()
        assert marked["type"] == "MODIFIED" and marked["object"]["metadata"]["deletionTimestamp"]
        assert server.get("tenants", "acme") is not None
        api.patch_namespaced_custom_object(G, V, "tenants", P, "acme", {"metadata": {"finalizers": None}})
        gone = stream.event()
        assert gone["type"] == "DELETED"
        assert server.get("tenants", "acme") is None
    finally:
        stream.close(server)


def test_tenant_helper_shape():
    obj = tenant(
        "acme",
        "org-1",
        ["chat"],
        suspend=True,
        suspended_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        created=datetime(2024, 1, 2, 3, 4, 5),
        team_id="team-x",
    )
    assert obj["apiVersion"] == "pieced.ch/v1" and obj["kind"] == "PiecedTenant"
    meta = obj["metadata"]
    assert meta["name"] == "acme" and meta["namespace"] == "tenants" and meta["uid"]
    assert meta["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert meta["labels"] == {ORG_LABEL: "org-1", TEAM_LABEL: "team-x"}
    assert obj["spec"] == {"packages": ["chat"], "suspend": True}
    assert obj["status"] == {"suspendedAt": "2024-05-01T12:00:00Z"}
    assert "status" not in tenant("plain", "org")
    assert ORG_LABEL not in tenant("malformed", None)["metadata"]["labels"]


def test_controller_side_create_keeps_status(server):
    created = server.create(tenant("acme", "org-1", suspend=True, suspended_at="2024-05-01T12:00:00Z"))
    assert created["status"] == {"suspendedAt": "2024-05-01T12:00:00Z"}
    changed = server.modify("tenants", "acme", lambda obj: obj["status"].update(suspendedAt="2024-06-01T00:00:00Z"))
    assert changed["status"]["suspendedAt"] == "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # examples from RFC 7386, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(target, patch, expected):
    assert merge_patch(target, patch) == expected


def test_json_patch_operations():
    doc = {"spec": {"packages": ["a"], "suspend": False}}
    assert json_patch(doc, [{"op": "add", "path": "/spec/packages/-", "value": "b"}])["spec"]["packages"] == ["a", "b"]
    assert json_patch(doc, [{"op": "remove", "path": "/spec/packages/0"}])["spec"]["packages"] == []
    assert json_patch(doc, [{"op": "move", "from": "/spec/suspend", "path": "/paused"}]) == {"spec": {"packages": ["a"]}, "paused": False}
    assert doc == {"spec": {"packages": ["a"], "suspend": False}}
