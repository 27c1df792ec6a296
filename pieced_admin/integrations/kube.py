"""PiecedTenant custom resources through the real ``kubernetes`` client: list, get, merge-patch, watch.

Where the API is: ``KUBE_API_HOST`` when set (a plain ``Configuration(host=...)``,
no credentials: tests and port-forwards), else the in-cluster service account
in a pod, else the kubeconfig file (``KUBECONFIG`` or ``~/.kube/config``).
None of these means Kubernetes is not configured (:class:`KubeNotConfigured`).

The CRD's group, version, plural, namespace (empty = all namespaces) and the
org label key come from the settings. Every failure is raised as a
:class:`KubeError` whose message names Kubernetes and what to check; a watch
whose resourceVersion is too old raises :class:`KubeGone` (relist), a broken
or refused connection :class:`KubeUnreachable` (reconnect).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME

from .litellm import TEAM_ID_LABEL

__all__ = [
    "KubeError",
    "KubeGone",
    "KubeNotConfigured",
    "KubeNotFound",
    "KubeSettings",
    "KubeUnreachable",
    "MalformedTenant",
    "TenantCR",
    "TenantKube",
    "kube_configured",
    "parse_k8s_time",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5  # seconds to open a connection to the API server
READ_TIMEOUT = 30  # seconds to wait for an answer to a list, get or patch
LIST_PAGE_SIZE = 500


class KubeError(Exception):
    """Kubernetes failed or refused; the message names it and says what to check."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class KubeNotConfigured(KubeError):
    """No API host, no in-cluster service account and no kubeconfig file."""


class KubeUnreachable(KubeError):
    """The API server could not be reached, or the connection broke (worth a reconnect)."""


class KubeNotFound(KubeError):
    """The PiecedTenant does not exist (HTTP 404)."""


class KubeGone(KubeError):
    """The watch's resourceVersion is too old (HTTP 410): list again, then watch from the new version."""


class MalformedTenant(ValueError):
    """A PiecedTenant that cannot be read; the message says which field is wrong."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class KubeSettings:
    """Where the API is and which custom resource holds the tenants (from app.config)."""

    group: str = "pieced.ch"
    version: str = "v1"
    plural: str = "piecedtenants"
    namespace: str = ""  # empty: all namespaces
    org_label: str = "pieced.ch/zitadel-org-id"
    api_host: str = ""
    kubeconfig: str = ""

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> KubeSettings:
        """Read the TENANT_* and KUBE* settings of the app."""
        return cls(
            group=cfg.get("TENANT_CRD_GROUP") or "pieced.ch",
            version=cfg.get("TENANT_CRD_VERSION") or "v1",
            plural=cfg.get("TENANT_CRD_PLURAL") or "piecedtenants",
            namespace=(cfg.get("TENANT_NAMESPACE") or "").strip(),
            org_label=cfg.get("TENANT_ORG_LABEL") or "pieced.ch/zitadel-org-id",
            api_host=(cfg.get("KUBE_API_HOST") or "").strip().rstrip("/"),
            kubeconfig=(cfg.get("KUBECONFIG") or "").strip(),
        )

    def kubeconfig_paths(self) -> list[str]:
        """The kubeconfig files to look at (KUBECONFIG may list several, separated by ':')."""
        raw = self.kubeconfig or os.environ.get("KUBECONFIG", "") or "~/.kube/config"
        return [os.path.expanduser(p) for p in raw.split(os.pathsep) if p.strip()]

    def existing_kubeconfig(self) -> str | None:
        found = [p for p in self.kubeconfig_paths() if os.path.isfile(p)]
        return os.pathsep.join(found) if found else None

    @property
    def in_cluster(self) -> bool:
        """True inside a pod (service host set and a service-account token mounted)."""
        return bool(os.environ.get(SERVICE_HOST_ENV_NAME)) and os.path.isfile(SERVICE_TOKEN_FILENAME)

    @property
    def scope(self) -> str:
        return f"namespace {self.namespace}" if self.namespace else "all namespaces"

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}/{self.version}"


def kube_configured(settings: KubeSettings) -> bool:
    """Whether any way to reach Kubernetes is set up (API host, pod, or kubeconfig file)."""
    return bool(settings.api_host) or settings.in_cluster or settings.existing_kubeconfig() is not None


NOT_CONFIGURED_MESSAGE = (
    "Kubernetes is not configured: set KUBE_API_HOST or KUBECONFIG, or run in a pod with a service account"
)


def build_configuration(settings: KubeSettings) -> client.Configuration:
    """The client configuration: API host, else in-cluster, else kubeconfig; KubeNotConfigured otherwise."""
    if settings.api_host:
        return client.Configuration(host=settings.api_host)
    configuration = client.Configuration()
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            return configuration
        path = settings.existing_kubeconfig()
        if path is None:
            raise KubeNotConfigured(NOT_CONFIGURED_MESSAGE)
        config.load_kube_config(config_file=path, client_configuration=configuration)
    except ConfigException as exc:
        raise KubeError(f"Kubernetes configuration could not be loaded: {exc}") from exc
    return configuration


# --------------------------------------------------------------------------- tenant objects


def parse_k8s_time(value: Any, where: str) -> datetime:
    """An RFC 3339 timestamp as Kubernetes writes it (``2026-10-10T07:00:00Z``), time-zone aware."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedTenant(f"{where} is missing")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise MalformedTenant(f"{where} {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MalformedTenant(f"{where} {value!r} has no time zone")
    return parsed


MAX_SKILL_ID = 120  # tenant_skill_events.skill_id
MAX_ORG_ID = 100  # tenant_billing_lifecycle.zitadel_org_id


@dataclass(frozen=True)
class TenantCR:
    """The fields of a PiecedTenant that billing uses (SPEC §4), read and checked."""

    name: str
    namespace: str
    created_at: datetime
    org_id: str | None
    team_id: str | None
    packages: tuple[str, ...]
    suspend: bool
    suspended_at: datetime | None
    deletion_at: datetime | None
    resource_version: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, obj: Any, org_label: str) -> TenantCR:
        """Read a PiecedTenant dict; MalformedTenant names the field that is wrong."""
        if not isinstance(obj, Mapping):
            raise MalformedTenant("the object is not a JSON object")
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            raise MalformedTenant("metadata is missing")
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise MalformedTenant("metadata.name is missing")
        namespace = meta.get("namespace") or ""
        created_at = parse_k8s_time(meta.get("creationTimestamp"), "metadata.creationTimestamp")
        labels = meta.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise MalformedTenant("metadata.labels is not an object")
        org_id = labels.get(org_label)
        if org_id is not None and (not isinstance(org_id, str) or not org_id.strip() or len(org_id) > MAX_ORG_ID):
            raise MalformedTenant(f"label {org_label} {org_id!r} is not an org id")
        org_id = org_id.strip() if org_id else None
        team = labels.get(TEAM_ID_LABEL)
        team_id = team.strip() if isinstance(team, str) and team.strip() else None

        spec = obj.get("spec") or {}
        if not isinstance(spec, Mapping):
            raise MalformedTenant("spec is not an object")
        packages = spec.get("packages")
        if packages is None:
            packages = []
        if not isinstance(packages, list):
            raise MalformedTenant(f"spec.packages is not a list (got {type(packages).__name__})")
        for item in packages:
            if not isinstance(item, str) or not item.strip() or len(item) > MAX_SKILL_ID:
                raise MalformedTenant(f"spec.packages holds {item!r}, which is not a skill id")
        suspend = spec.get("suspend", False)
        if suspend is None:
            suspend = False
        if not isinstance(suspend, bool):
            raise MalformedTenant(f"spec.suspend {suspend!r} is not true or false")

        status = obj.get("status") or {}
        suspended_at = None
        if isinstance(status, Mapping) and status.get("suspendedAt") not in (None, ""):
            suspended_at = parse_k8s_time(status.get("suspendedAt"), "status.suspendedAt")
        deletion_at = None
        if meta.get("deletionTimestamp"):
            try:
                deletion_at = parse_k8s_time(meta["deletionTimestamp"], "metadata.deletionTimestamp")
            except MalformedTenant:
                deletion_at = None  # the time we observe the deletion serves instead
        return cls(
            name=name,
            namespace=namespace,
            created_at=created_at,
            org_id=org_id,
            team_id=team_id,
            packages=tuple(dict.fromkeys(p.strip() for p in packages)),
            suspend=suspend,
            suspended_at=suspended_at,
            deletion_at=deletion_at,
            resource_version=meta.get("resourceVersion"),
            raw=obj,
        )


# --------------------------------------------------------------------------- the client


def _status_message(exc: ApiException) -> str:
    """The message of the Status object Kubernetes sent back, else the HTTP reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
            if isinstance(status, dict) and status.get("message"):
                return str(status["message"])
        except (TypeError, ValueError):
            pass
    return str(exc.reason or "no reason given")


class TenantKube:
    """PiecedTenant reads, merge patches and watches through ``CustomObjectsApi``."""

    def __init__(self, settings: KubeSettings, configuration: client.Configuration | None = None, *,
                 page_size: int = LIST_PAGE_SIZE):
        self.settings = settings
        self.page_size = page_size
        self.configuration = configuration or build_configuration(settings)
        self.host = self.configuration.host
        self._api_client = client.ApiClient(self.configuration)
        self.api = client.CustomObjectsApi(self._api_client)
        self._watch: watch.Watch | None = None
        self._watch_response = None  # the open watch response, to cut it from another thread
        self._stopping = False
        self.watch_resource_version: str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TenantKube:
        """A client from the app's settings (KubeNotConfigured when there is nothing to reach)."""
        return cls(KubeSettings.from_config(cfg))

    def close(self) -> None:
        self.stop_watch()
        try:
            self._api_client.close()
        except Exception:  # pragma: no cover - closing a pool never matters
            pass

    def __enter__(self) -> TenantKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TenantKube({self.host!r}, {self.settings.resource}, {self.settings.scope})"

    # -- errors --

    def _translate(self, exc: Exception, what: str) -> KubeError:
        if isinstance(exc, ApiException):
            status = exc.status
            message = _status_message(exc)
            if status == 404:
                return KubeNotFound(f"Kubernetes has no {what} (HTTP 404: {message})", status=404)
            if status == 410:
                return KubeGone(f"Kubernetes expired the watch position ({message}): listing again", status=410)
            if status in (401, 403):
                return KubeError(
                    f"Kubernetes refused to {what} (HTTP {status}: {message}): check the service account's "
                    f"RBAC for {self.settings.resource}",
                    status=status,
                )
            if status is None or status == 0 or status >= 500 or status == 429:
                return KubeUnreachable(
                    f"Kubernetes API at {self.host} failed to {what} (HTTP {status}: {message})", status=status
                )
            return KubeError(f"Kubernetes refused to {what} (HTTP {status}: {message})", status=status)
        return KubeUnreachable(f"Kubernetes API unreachable at {self.host}: {exc}")

    def _call(self, what: str, fn, *args, **kwargs):
        kwargs.setdefault("_request_timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, what) from exc

    def _crd(self) -> tuple[str, str]:
        return self.settings.group, self.settings.version

    # -- reads and writes --

    def list_tenants(self) -> tuple[list[dict[str, Any]], str]:
        """Every PiecedTenant in scope (pages followed) and the list's resourceVersion."""
        group, version = self._crd()
        s = self.settings
        items: list[dict[str, Any]] = []
        token: str | None = None
        resource_version = ""
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size}
            if token:
                kwargs["_continue"] = token
            if s.namespace:
                page = self._call(f"list {s.plural} in namespace {s.namespace}",
                                  self.api.list_namespaced_custom_object, group, version, s.namespace, s.plural, **kwargs)
            else:
                page = self._call(f"list {s.plural}", self.api.list_cluster_custom_object, group, version, s.plural,
                                  **kwargs)
            meta = page.get("metadata") or {}
            if not resource_version:
                resource_version = str(meta.get("resourceVersion") or "")
            items.extend(page.get("items") or [])
            token = meta.get("continue")
            if not token:
                return items, resource_version

    def get_tenant(self, namespace: str, name: str) -> dict[str, Any]:
        """One PiecedTenant; KubeNotFound when it does not exist."""
        group, version = self._crd()
        return self._call(f"PiecedTenant {namespace}/{name}", self.api.get_namespaced_custom_object,
                          group, version, namespace, self.settings.plural, name)

    def patch_tenant(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch (RFC 7386) a PiecedTenant; returns the object the API server stored."""
        group, version = self._crd()
        return self._call(f"patch PiecedTenant {namespace}/{name}", self.api.patch_namespaced_custom_object,
                          group, version, namespace, self.settings.plural, name, dict(body),
                          _content_type="application/merge-patch+json")

    # -- watch --

    def watch_tenants(self, resource_version: str, timeout_seconds: int = 45) -> Iterator[dict[str, Any]]:
        """Events after `resource_version` (ADDED, MODIFIED, DELETED, BOOKMARK) until the server ends the watch.

        The stream ends by itself after `timeout_seconds`; `watch_resource_version`
        follows the last event seen (bookmarks included). A too-old version raises
        KubeGone, a broken connection KubeUnreachable.
        """
        group, version = self._crd()
        s = self.settings
        if self._stopping:
            return
        w = watch.Watch()
        self._watch = w
        self.watch_resource_version = resource_version
        kwargs = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": int(timeout_seconds),
            # The server ends the watch after timeout_seconds; a read timeout a little later
            # catches a connection that went silent without closing.
            "_request_timeout": (CONNECT_TIMEOUT, int(timeout_seconds) + 15),
        }
        if s.namespace:
            lister, args = self.api.list_namespaced_custom_object, (group, version, s.namespace, s.plural)
        else:
            lister, args = self.api.list_cluster_custom_object, (group, version, s.plural)

        @functools.wraps(lister)
        def opened(*a, **kw):
            # Keep the response before looking at the flag, and stop_watch() sets the flag before
            # looking at the response: a stop arriving while the request is on its way is not lost.
            response = lister(*a, **kw)
            self._watch_response = response
            if self._stopping:
                _cut(response)
            return response

        try:
            for event in w.stream(opened, *args, **kwargs):
                self.watch_resource_version = w.resource_version
                yield event
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            if self._stopping:
                return
            raise self._translate(exc, f"watch {s.plural}") from exc
        finally:
            self._watch = None
            self._watch_response = None

    def stop_watch(self) -> None:
        """End the current watch now, and refuse later ones (safe from a signal handler or another thread)."""
        self._stopping = True
        w = self._watch
        if w is not None:
            w.stop()
        response = self._watch_response
        if response is not None:
            _cut(response)


def _cut(response) -> None:
    """Shut the socket of a streaming response down, so a blocked read returns at once."""
    try:
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
