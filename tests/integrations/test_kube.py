"""TenantKube: the real kubernetes client against the fake custom-objects API server."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from pieced_admin.integrations.kube import (
    KubeError,
    KubeGone,
    KubeNotConfigured,
    KubeNotFound,
    KubeSettings,
    KubeUnreachable,
    MalformedTenant,
    TenantCR,
    TenantKube,
    kube_configured,
)
from tests.peers.kube_api import MERGE_PATCH, KubeAPIServer, tenant

pytestmark = pytest.mark.timeout(30)

ORG = "pieced.ch/zitadel-org-id"


@pytest.fixture
def server():
    with KubeAPIServer() as srv:
        yield srv


@pytest.fixture
def kube(server):
    with TenantKube(KubeSettings(api_host=server.url)) as k:
        yield k


def test_settings_come_from_the_app_config():
    s = KubeSettings.from_config({
        "TENANT_CRD_GROUP": "example.org", "TENANT_CRD_VERSION": "v2", "TENANT_CRD_PLURAL": "assistants",
        "TENANT_NAMESPACE": " prod ", "TENANT_ORG_LABEL": "example.org/org", "KUBE_API_HOST": "http://h:1/",
        "KUBECONFIG": "",
    })
    assert (s.group, s.version, s.plural, s.namespace, s.org_label, s.api_host) == (
        "example.org", "v2", "assistants", "prod", "example.org/org", "http://h:1")
    assert KubeSettings.from_config({}) == KubeSettings()


def test_not_configured_without_host_pod_or_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    settings = KubeSettings(kubeconfig=str(tmp_path / "missing"))
    assert not kube_configured(settings)
    with pytest.raises(KubeNotConfigured, match="Kubernetes is not configured"):
        TenantKube(settings)


def test_kubeconfig_file_is_used_when_there_is_no_api_host(server, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters: [{{name: fake, cluster: {{server: '{server.url}'}}}}]\n"
        "users: [{name: me, user: {token: abc}}]\n"
        "contexts: [{name: test, context: {cluster: fake, user: me}}]\n"
    )
    settings = KubeSettings(kubeconfig=str(path))
    assert kube_configured(settings)
    server.create(tenant("acme", "org-1"))
    with TenantKube(settings) as k:
        assert k.host == server.url
        items, _ = k.list_tenants()
    assert [i["metadata"]["name"] for i in items] == ["acme"]


def test_list_all_namespaces_or_one_with_pages(server):
    for name, ns in [("a", "tenants"), ("b", "tenants"), ("c", "other"), ("d", "tenants")]:
        server.create(tenant(name, "org", namespace=ns))
    with TenantKube(KubeSettings(api_host=server.url), page_size=2) as k:
        items, version = k.list_tenants()
    assert sorted(i["metadata"]["name"] for i in items) == ["a", "b", "c", "d"]
    assert version == server.resource_version
    assert [r.query.get("limit") for r in server.requests] == ["2", "2"]

    with TenantKube(KubeSettings(api_host=server.url, namespace="tenants")) as k:
        items, _ = k.list_tenants()
    assert [i["metadata"]["name"] for i in items] == ["a", "b", "d"]
    assert server.requests[-1].path == "/apis/pieced.ch/v1/namespaces/tenants/piecedtenants"


def test_crd_names_come_from_the_settings():
    with KubeAPIServer(group="example.org", version="v2", plural="assistants", kind="Assistant") as srv:
        srv.create(tenant("acme", "org-1", api_version="example.org/v2", kind="Assistant"))
        settings = KubeSettings(group="example.org", version="v2", plural="assistants", api_host=srv.url)
        with TenantKube(settings) as k:
            assert k.get_tenant("tenants", "acme")["kind"] == "Assistant"


def test_get_patch_and_not_found(server, kube):
    server.create(tenant("acme", "org-1", ["chat"]))
    assert kube.get_tenant("tenants", "acme")["spec"]["packages"] == ["chat"]

    stored = kube.patch_tenant("tenants", "acme", {"spec": {"packages": ["chat", "voice"]}})
    assert stored["spec"] == {"packages": ["chat", "voice"], "suspend": False}
    assert server.patches[-1].content_type == MERGE_PATCH
    assert server.patches[-1].body == {"spec": {"packages": ["chat", "voice"]}}

    with pytest.raises(KubeNotFound, match=r"^Kubernetes has no PiecedTenant tenants/ghost"):
        kube.get_tenant("tenants", "ghost")
    with pytest.raises(KubeNotFound):
        kube.patch_tenant("tenants", "ghost", {"spec": {"suspend": True}})


def test_failures_name_kubernetes(server, kube):
    server.fail_next(403, method="GET", message='piecedtenants.pieced.ch is forbidden: User "x" cannot list')
    with pytest.raises(KubeError, match=r"^Kubernetes refused to list piecedtenants \(HTTP 403: .*forbidden.*RBAC"):
        kube.list_tenants()
    server.fail_next(500, method="PATCH")
    with pytest.raises(KubeUnreachable, match=r"^Kubernetes API at http://127\.0\.0\.1:\d+ failed to patch"):
        kube.patch_tenant("tenants", "x", {})

    url = server.url
    server.stop()
    # A new client: the fake's stop() leaves kept-alive connections served.
    with TenantKube(KubeSettings(api_host=url)) as fresh:
        with pytest.raises(KubeUnreachable, match=rf"^Kubernetes API unreachable at {url}: "):
            fresh.list_tenants()


def _collect(stream, into: list, done: threading.Event):
    try:
        for event in stream:
            into.append(event)
    except Exception as exc:  # noqa: BLE001 - inspected by the test
        into.append(exc)
    finally:
        done.set()


def test_watch_events_bookmarks_and_resource_version(server, kube):
    server.create(tenant("acme", "org-1"))
    _, version = kube.list_tenants()
    events: list = []
    done = threading.Event()
    thread = threading.Thread(target=_collect, args=(kube.watch_tenants(version, timeout_seconds=2), events, done))
    thread.start()
    server.wait_for_watches()
    assert server.requests[-1].query == {"allowWatchBookmarks": "true", "resourceVersion": version,
                                         "timeoutSeconds": "2", "watch": "true"}
    server.modify("tenants", "acme", {"spec": {"suspend": True}})
    bookmark = server.bookmark()
    done.wait(5)
    thread.join(5)
    assert [e["type"] for e in events] == ["MODIFIED", "BOOKMARK"]  # then the server ended the watch
    assert kube.watch_resource_version == bookmark


def test_watch_410_drop_and_errors_are_typed(server, kube):
    server.create(tenant("acme", "org-1"))
    stale = server.resource_version
    server.modify("tenants", "acme", {"spec": {"suspend": True}})
    server.compact()
    with pytest.raises(KubeGone):
        list(kube.watch_tenants(stale, timeout_seconds=2))

    events: list = []
    done = threading.Event()
    thread = threading.Thread(target=_collect, args=(kube.watch_tenants(server.resource_version, 30), events, done))
    thread.start()
    server.wait_for_watches()
    server.drop_watches()
    assert done.wait(5)
    thread.join(5)
    assert isinstance(events[-1], KubeUnreachable)
    assert str(events[-1]).startswith(f"Kubernetes API unreachable at {server.url}")

    server.fail_next(500, method="GET")
    with pytest.raises(KubeUnreachable, match="HTTP 500"):
        list(kube.watch_tenants(server.resource_version, timeout_seconds=1))


def test_stop_watch_ends_a_long_watch_at_once(server, kube):
    done = threading.Event()
    events: list = []
    thread = threading.Thread(target=_collect, args=(kube.watch_tenants(server.resource_version, 60), events, done))
    thread.start()
    server.wait_for_watches()
    kube.stop_watch()
    assert done.wait(3), "the watch did not end"
    thread.join(3)


UTC = timezone.utc


def test_tenant_cr_reads_the_fields_billing_uses():
    obj = tenant("acme", "org-1", ["chat", "chat", "voice"], suspend=True, suspended_at="2026-10-20T10:00:00.5Z",
                 created="2026-10-10T07:00:00Z", team_id="team-a")
    obj["metadata"]["resourceVersion"] = "42"
    cr = TenantCR.parse(obj, ORG)
    assert (cr.name, cr.namespace, cr.org_id, cr.team_id, cr.packages, cr.suspend, cr.resource_version) == (
        "acme", "tenants", "org-1", "team-a", ("chat", "voice"), True, "42")
    assert cr.created_at == datetime(2026, 10, 10, 7, tzinfo=UTC)
    assert cr.suspended_at == datetime(2026, 10, 20, 10, 0, 0, 500000, tzinfo=UTC)
    bare = tenant("bare", None)
    del bare["spec"]
    cr = TenantCR.parse(bare, ORG)
    assert (cr.org_id, cr.packages, cr.suspend, cr.suspended_at) == (None, (), False, None)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda o: o["spec"].update(packages="chat"), "spec.packages is not a list"),
    (lambda o: o["spec"].update(packages=["chat", 7]), "spec.packages holds 7"),
    (lambda o: o["spec"].update(suspend="yes"), "spec.suspend 'yes' is not true or false"),
    (lambda o: o["metadata"].update(creationTimestamp="yesterday"), "metadata.creationTimestamp 'yesterday'"),
    (lambda o: o["metadata"].update(creationTimestamp="2026-10-10T07:00:00"), "has no time zone"),
    (lambda o: o.update(status={"suspendedAt": "soon"}), "status.suspendedAt 'soon'"),
    (lambda o: o["metadata"].pop("name"), "metadata.name is missing"),
])
def test_tenant_cr_names_what_is_malformed(change, reason):
    obj = tenant("acme", "org-1", ["chat"])
    change(obj)
    with pytest.raises(MalformedTenant, match=reason.replace("(", r"\(")):
        TenantCR.parse(obj, ORG)
