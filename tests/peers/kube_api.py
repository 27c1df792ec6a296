"""A small, faithful stand-in for the Kubernetes API server's custom-objects API.

No API server can run on the test machines, so tests run the real
``kubernetes`` client (``Configuration(host=server.url)``) against this
stdlib HTTP server. It serves one custom resource (default
``pieced.ch/v1`` ``piecedtenants``, kind ``PiecedTenant``) the way the real
API server does:

* list (all namespaces, or one) with ``metadata.resourceVersion``,
  ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``),
  ``fieldSelector`` (``metadata.name`` / ``metadata.namespace``) and
  ``limit``/``continue``;
* get, create (POST), replace (PUT), delete, and PATCH with
  ``application/merge-patch+json`` (RFC 7386) or
  ``application/json-patch+json`` (RFC 6902); other patch types answer 415
  like the real server does for custom resources;
* the ``status`` subresource: with ``status_subresource=True`` (the
  default, as for CRDs that declare it) writes to the main resource ignore
  ``status`` and ``.../status`` writes change only ``status``;
* optimistic concurrency: a ``metadata.resourceVersion`` in a patch or PUT
  that is not the current one answers 409 Conflict;
* finalizers: deleting an object with finalizers only sets
  ``deletionTimestamp`` (MODIFIED); it goes away when they are removed;
* watch (``watch=true``; booleans parsed case-insensitively) as chunked,
  newline-delimited JSON events, replaying history after
  ``resourceVersion``, ``ERROR`` 410 Expired for a compacted
  resourceVersion, ``BOOKMARK`` events for watchers that asked for them,
  ``timeoutSeconds``, and label-selector transitions (an object that stops
  matching is sent as DELETED, one that starts matching as ADDED).

Every resource version is one global counter, as with etcd. Python methods
(``create``, ``modify``, ``delete``...) act as a controller would: they may
change any field, including ``status``.
"""

from __future__ import annotations

import base64
import copy
import json
import queue
import re
import select
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from pieced_admin import clock as app_clock

__all__ = [
    "KubeAPIServer",
    "RecordedPatch",
    "RecordedRequest",
    "merge_patch",
    "json_patch",
    "rfc3339",
    "tenant",
    "ORG_LABEL",
    "TEAM_LABEL",
]

ORG_LABEL = "pieced.ch/zitadel-org-id"
TEAM_LABEL = "pieced.ch/litellm-team-id"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    411: "LengthRequired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_DROP = object()  # close the watch connection abruptly (no final chunk)
_RESET = object()  # close it with a TCP reset
_END = object()  # end the watch stream cleanly (final chunk)


def rfc3339(value: datetime | str | None) -> str | None:
    """Format a datetime the way Kubernetes does (``2024-05-01T12:00:00Z``)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tenant(
    name: str,
    org: str | None,
    packages: Iterable[str] = (),
    suspend: bool = False,
    suspended_at: datetime | str | None = None,
    created: datetime | str | None = None,
    namespace: str = "tenants",
    labels: Mapping[str, str] | None = None,
    *,
    team_id: str | None = None,
    api_version: str = "pieced.ch/v1",
    kind: str = "PiecedTenant",
) -> dict[str, Any]:
    """Build a PiecedTenant object as the API server would return it.

    ``org=None`` leaves the org label out (a malformed CR); ``team_id`` sets
    the ``pieced.ch/litellm-team-id`` label. ``created`` defaults to now.
    ``resourceVersion`` is left empty: the server assigns it on create.
    """
    all_labels: dict[str, str] = {}
    if org is not None:
        all_labels[ORG_LABEL] = org
    if team_id is not None:
        all_labels[TEAM_LABEL] = team_id
    all_labels.update(labels or {})
    if created is None:
        created = app_clock.now().replace(microsecond=0)  # the cluster's clock agrees with the app's
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "",
            "creationTimestamp": rfc3339(created),
            "labels": all_labels,
        },
        "spec": {"packages": list(packages), "suspend": bool(suspend)},
    }
    if suspended_at is not None:
        obj["status"] = {"suspendedAt": rfc3339(suspended_at)}
    return obj


# --- patches -------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class _PatchError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchError(422, f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise _PatchError(422, f"path not found: /{'/'.join(parts)}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise _PatchError(400, "a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _PatchError(400, f"invalid JSON patch operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise _PatchError(400, f"unknown JSON patch operation {kind!r}")
        if kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise _PatchError(422, f"testing value {op['path']} failed")
            continue
        if kind in ("move", "copy"):
            value = copy.deepcopy(_walk(doc, _pointer(op["from"])))
            if kind == "move":
                doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
            kind, op = "add", {"value": value}
        if not parts:
            if kind == "remove":
                raise _PatchError(422, "cannot remove the whole document")
            doc = copy.deepcopy(op.get("value"))
            continue
        parent, last = _walk(doc, parts[:-1]), parts[-1]
        if isinstance(parent, dict):
            if kind in ("remove", "replace") and last not in parent:
                raise _PatchError(422, f"path not found: {'/'.join(parts)}")
            if kind == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op.get("value"))
        elif isinstance(parent, list):
            if last == "-" and kind == "add":
                parent.append(copy.deepcopy(op.get("value")))
                continue
            if not last.isdigit():
                raise _PatchError(422, f"invalid list index {last!r}")
            index = int(last)
            limit = len(parent) if kind == "add" else len(parent) - 1
            if index > limit:
                raise _PatchError(422, f"list index {index} out of range")
            if kind == "add":
                parent.insert(index, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                del parent[index]
            else:
                parent[index] = copy.deepcopy(op.get("value"))
        else:
            raise _PatchError(422, f"path not found: {'/'.join(parts)}")
    return doc


# --- selectors -------------------------------------------------------------------


def _parse_label_selector(text: str | None) -> list[tuple[str, str, str | None]]:
    requirements: list[tuple[str, str, str | None]] = []
    if not text:
        return requirements
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        if " in " in term or " notin " in term or "(" in term:
            raise ValueError(f"set-based selector not supported by this fake: {term!r}")
        if "!=" in term:
            key, value = term.split("!=", 1)
            requirements.append((key.strip(), "!=", value.strip()))
        elif "==" in term:
            key, value = term.split("==", 1)
            requirements.append((key.strip(), "=", value.strip()))
        elif "=" in term:
            key, value = term.split("=", 1)
            requirements.append((key.strip(), "=", value.strip()))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!exists", None))
        else:
            requirements.append((term, "exists", None))
    return requirements


def _labels_match(obj: Mapping[str, Any] | None, requirements) -> bool:
    if obj is None:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, value in requirements:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!exists" and key in labels:
            return False
    return True


def _parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    requirements = []
    if not text:
        return requirements
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        match = re.fullmatch(r"([\w.]+)\s*(!=|==|=)\s*(.*)", term)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ValueError(f"field label not supported: {term!r}")
        requirements.append((match.group(1), "!=" if match.group(2) == "!=" else "=", match.group(3)))
    return requirements


def _fields_match(obj: Mapping[str, Any] | None, requirements) -> bool:
    if obj is None:
        return False
    meta = obj.get("metadata") or {}
    for key, op, value in requirements:
        actual = meta.get(key.split(".", 1)[1])
        if (actual == value) != (op == "="):
            return False
    return True


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


# --- records -------------------------------------------------------------------


@dataclass
class RecordedPatch:
    """One PATCH the server received (whether or not it succeeded)."""

    path: str
    content_type: str
    body: Any
    namespace: str
    name: str
    subresource: str | None = None
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]


@dataclass
class _HistoryEntry:
    rv: int
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


class _Watcher:
    def __init__(self, namespace: str | None, labels, fields, bookmarks: bool):
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.bookmarks = bookmarks
        self.queue: queue.Queue = queue.Queue()

    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return _labels_match(obj, self.labels) and _fields_match(obj, self.fields)

    def translate(self, entry: _HistoryEntry) -> tuple[str, dict[str, Any]] | None:
        new_match = self.matches(entry.obj)
        if entry.type == "MODIFIED":
            old_match = self.matches(entry.old)
            if old_match and new_match:
                return "MODIFIED", entry.obj
            if old_match:
                return "DELETED", entry.obj
            if new_match:
                return "ADDED", entry.obj
            return None
        return (entry.type, entry.obj) if new_match else None


class _APIError(Exception):
    def __init__(self, code: int, message: str, details: dict[str, Any] | None = None, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.reason = reason


# --- the server -------------------------------------------------------------------


class KubeAPIServer:
    """Fake Kubernetes API server for one custom resource, in a thread.

    Use as a context manager or with ``start()``/``stop()``; ``url`` is the
    host to give ``kubernetes.client.Configuration``.
    """

    def __init__(
        self,
        group: str = "pieced.ch",
        version: str = "v1",
        plural: str = "piecedtenants",
        kind: str = "PiecedTenant",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        status_subresource: bool = True,
        clock: Callable[[], datetime] | None = None,
        initial_resource_version: int = 1000,
    ):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.status_subresource = status_subresource
        self.clock = clock or app_clock.now
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._rv = initial_resource_version
        self._history: list[_HistoryEntry] = []
        self._compacted_rv = initial_resource_version
        self._watchers: set[_Watcher] = set()
        self._watchers_changed = threading.Condition(self._lock)
        self._failures: list[dict[str, Any]] = []
        self.patches: list[RecordedPatch] = []
        self.requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("KubeAPIServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("KubeAPIServer is not started")
        return self._httpd.server_address[1]

    def start(self) -> "KubeAPIServer":
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"api": self})
        httpd = ThreadingHTTPServer((self._host, self._port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="fake-kube-api")
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.drop_watches()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "KubeAPIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    tenant = staticmethod(tenant)

    # -- test controls --

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for (ns, _), o in sorted(self._objects.items()) if namespace in (None, ns)]

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object (any fields, status included); emits ADDED."""
        with self._lock:
            return self._create(copy.deepcopy(dict(obj)), keep_status=True)

    def modify(self, namespace: str, name: str, fn_or_patch: Callable[[dict], dict | None] | Mapping[str, Any]) -> dict[str, Any]:
        """Change an object as a controller would; emits MODIFIED if it changed.

        ``fn_or_patch`` is a function that mutates (or returns) a copy of the
        object, or a merge patch. Any field may change, status included.
        """
        with self._lock:
            current = self._require(namespace, name)
            if callable(fn_or_patch):
                draft = copy.deepcopy(current)
                returned = fn_or_patch(draft)
                new = returned if returned is not None else draft
            else:
                new = merge_patch(current, dict(fn_or_patch))
            return self._update(current, new, keep_status=True)

    def delete(self, namespace: str, name: str) -> dict[str, Any]:
        """Delete an object; emits DELETED (or MODIFIED if it has finalizers)."""
        with self._lock:
            return self._delete(namespace, name)

    def bookmark(self) -> str:
        """Send a BOOKMARK at the current resourceVersion to watchers that allow them."""
        with self._lock:
            rv = str(self._rv)
            for watcher in self._watchers:
                if watcher.bookmarks:
                    watcher.queue.put(("BOOKMARK", rv))
            return rv

    def compact(self) -> str:
        """Drop the watch history: watching from an older resourceVersion answers 410."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv
            return str(self._rv)

    def drop_watches(self, how: str = "eof") -> int:
        """Cut every open watch connection mid-stream (no final chunk).

        ``how="eof"`` closes the socket (the client reads a premature end),
        ``how="reset"`` sends a TCP reset. Returns the number of watches cut.
        """
        marker = {"eof": _DROP, "reset": _RESET}[how]
        with self._lock:
            for watcher in self._watchers:
                watcher.queue.put(marker)
            return len(self._watchers)

    def end_watches(self) -> int:
        """End every open watch cleanly, as the server does at its own timeout."""
        with self._lock:
            for watcher in self._watchers:
                watcher.queue.put(_END)
            return len(self._watchers)

    @property
    def watch_count(self) -> int:
        with self._lock:
            return len(self._watchers)

    def wait_for_watches(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until at least ``count`` watch connections are open."""
        deadline = time.monotonic() + timeout
        with self._watchers_changed:
            while len(self._watchers) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._watchers)} watch(es) open, expected {count}")
                self._watchers_changed.wait(remaining)

    def fail_next(self, status: int = 500, count: int = 1, *, method: str | None = None, path_contains: str | None = None, message: str | None = None) -> None:
        """Answer the next ``count`` matching requests with an error Status."""
        with self._lock:
            self._failures.append(
                {"status": status, "count": count, "method": method and method.upper(), "path": path_contains, "message": message}
            )

    # -- internals (called with the lock held) --

    def _now(self) -> str:
        return rfc3339(self.clock().replace(microsecond=0))

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _resource(self) -> str:
        return f"{self.plural}.{self.group}"

    def _not_found(self, name: str) -> _APIError:
        return _APIError(404, f'{self._resource()} "{name}" not found', {"name": name, "group": self.group, "kind": self.plural})

    def _require(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self._objects.get((namespace, name))
        if obj is None:
            raise self._not_found(name)
        return obj

    def _emit(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        entry = _HistoryEntry(int(obj["metadata"]["resourceVersion"]), kind, copy.deepcopy(obj), copy.deepcopy(old) if old else None)
        self._history.append(entry)
        for watcher in self._watchers:
            watcher.queue.put(entry)

    def _create(self, obj: dict[str, Any], *, keep_status: bool, namespace: str | None = None) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise _APIError(400, "the body of the request was in an unknown format")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise _APIError(400, "metadata must be an object")
        if namespace is not None:
            if meta.get("namespace") not in (None, "", namespace):
                raise _APIError(400, "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        meta.setdefault("namespace", "default")
        name = meta.get("name")
        if not name:
            raise _APIError(422, f'{self.kind}.{self.group} "" is invalid: metadata.name: Required value: name or generateName is required')
        key = (meta["namespace"], name)
        if key in self._objects:
            raise _APIError(409, f'{self._resource()} "{name}" already exists', {"name": name, "group": self.group, "kind": self.plural}, reason="AlreadyExists")
        obj["apiVersion"] = self.api_version
        obj["kind"] = self.kind
        if not keep_status and self.status_subresource:
            obj.pop("status", None)
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or self._now()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        meta["resourceVersion"] = self._next_rv()
        self._objects[key] = obj
        self._emit("ADDED", obj)
        return copy.deepcopy(obj)

    def _update(self, current: dict[str, Any], new: Any, *, keep_status: bool, subresource: str | None = None, expected_rv: str | None = None) -> dict[str, Any]:
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise _APIError(422, f"{self.kind}.{self.group} is invalid: the result is not an object")
        meta_cur = current["metadata"]
        name = meta_cur["name"]
        if expected_rv not in (None, "") and expected_rv != meta_cur["resourceVersion"]:
            raise _APIError(
                409,
                f'Operation cannot be fulfilled on {self._resource()} "{name}": the object has been modified; please apply your changes to the latest version and try again',
                {"name": name, "group": self.group, "kind": self.plural},
            )
        new = copy.deepcopy(new)
        if subresource == "status":
            # Only status changes through the status subresource.
            result = copy.deepcopy(current)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            new = result
        elif not keep_status and self.status_subresource:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for immutable in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if immutable in meta_cur:
                meta[immutable] = meta_cur[immutable]
            else:
                meta.pop(immutable, None)
        meta["resourceVersion"] = meta_cur["resourceVersion"]
        new["apiVersion"] = self.api_version
        new["kind"] = self.kind
        if new == current:
            return copy.deepcopy(current)  # a no-op update keeps its resourceVersion
        spec_changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != {
            k: v for k, v in current.items() if k not in ("metadata", "status")
        }
        if spec_changed:
            meta["generation"] = int(meta_cur.get("generation", 1)) + 1
        meta["resourceVersion"] = self._next_rv()
        key = (meta["namespace"], name)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self._objects[key]
            self._emit("DELETED", new, current)
            return copy.deepcopy(new)
        self._objects[key] = new
        self._emit("MODIFIED", new, current)
        return copy.deepcopy(new)

    def _delete(self, namespace: str, name: str, preconditions: Mapping[str, Any] | None = None) -> dict[str, Any]:
        current = self._require(namespace, name)
        meta_cur = current["metadata"]
        for key in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(key)
            if wanted and wanted != meta_cur.get(key):
                raise _APIError(
                    409,
                    f"Precondition failed: {key.replace('resourceVersion', 'ResourceVersion').replace('uid', 'UID')} in precondition: {wanted}, {key} in object meta: {meta_cur.get(key)}",
                    {"name": name, "group": self.group, "kind": self.plural},
                )
        if meta_cur.get("finalizers"):
            if meta_cur.get("deletionTimestamp"):
                return copy.deepcopy(current)
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = self._now()
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[(namespace, name)] = new
            self._emit("MODIFIED", new, current)
            return copy.deepcopy(new)
        last = copy.deepcopy(current)
        last["metadata"]["deletionTimestamp"] = self._now()
        last["metadata"]["resourceVersion"] = self._next_rv()
        del self._objects[(namespace, name)]
        self._emit("DELETED", last, current)
        return copy.deepcopy(last)

    def _take_failure(self, method: str, path: str) -> dict[str, Any] | None:
        for rule in self._failures:
            if rule["method"] not in (None, method):
                continue
            if rule["path"] is not None and rule["path"] not in path:
                continue
            rule["count"] -= 1
            if rule["count"] <= 0:
                self._failures.remove(rule)
            return rule
        return None

    def status_object(self, code: int, message: str, details: dict[str, Any] | None = None, reason: str | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason or _REASONS.get(code, "Unknown"),
            "code": code,
        }
        if details:
            status["details"] = details
        return status


# --- HTTP -------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "fake-kube-apiserver"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
        pass

    # -- plumbing --

    def _send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _send_status(self, error: _APIError) -> None:
        self._send_json(error.code, self.api.status_object(error.code, error.message, error.details, error.reason))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _APIError(400, f"the body of the request was in an unknown format: {exc}") from exc

    def _route(self):
        """Split the path into (namespace, name, subresource) or raise 404."""
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        api = self.api
        not_found = _APIError(404, "the server could not find the requested resource", reason="NotFound")
        if segments[:3] != ["apis", api.group, api.version] or len(segments) < 4:
            raise not_found
        rest = segments[3:]
        if rest == [api.plural]:
            return None, None, None, query, True
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == api.plural:
            namespace = rest[1]
            if len(rest) == 3:
                return namespace, None, None, query, True
            if len(rest) == 4:
                return namespace, rest[3], None, query, False
            if len(rest) == 5 and rest[4] == "status" and api.status_subresource:
                return namespace, rest[3], "status", query, False
        raise not_found

    def _handle(self, method: str) -> None:
        raw = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        api = self.api
        parts = urlsplit(self.path)
        query_all = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with api._lock:
            api.requests.append(RecordedRequest(method, parts.path, query_all))
            failure = api._take_failure(method, parts.path)
        try:
            if parts.path == "/version" and method == "GET":
                self._send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64"})
                return
            if failure is not None:
                raise _APIError(failure["status"], failure["message"] or f"injected failure {failure['status']}")
            namespace, name, subresource, query, collection = self._route()
            if collection:
                if method == "GET":
                    if _truthy(query.get("watch")):
                        self._watch(namespace, query)
                    else:
                        self._list(namespace, query)
                    return
                if method == "POST" and namespace is not None:
                    body = self._json_body(raw)
                    with api._lock:
                        created = api._create(body, keep_status=False, namespace=namespace)
                    self._send_json(201, created)
                    return
                raise _APIError(405, f"the server does not allow this method on the requested resource ({method})", reason="MethodNotAllowed")
            if method == "GET":
                with api._lock:
                    self._send_json(200, copy.deepcopy(api._require(namespace, name)))
                return
            if method == "PATCH":
                self._patch(namespace, name, subresource, query, raw)
                return
            if method == "PUT":
                body = self._json_body(raw)
                if not isinstance(body, dict):
                    raise _APIError(400, "the body of the request was in an unknown format")
                rv = (body.get("metadata") or {}).get("resourceVersion")
                if not rv:
                    raise _APIError(422, f'{api.kind}.{api.group} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update')
                if (body.get("metadata") or {}).get("name") not in (None, name):
                    raise _APIError(400, "the name of the object does not match the name on the URL")
                with api._lock:
                    current = api._require(namespace, name)
                    updated = api._update(current, body, keep_status=False, subresource=subresource, expected_rv=rv)
                self._send_json(200, updated)
                return
            if method == "DELETE" and subresource is None:
                body = self._json_body(raw) or {}
                with api._lock:
                    last = api._delete(namespace, name, body.get("preconditions") if isinstance(body, dict) else None)
                self._send_json(200, last)
                return
            raise _APIError(405, f"the server does not allow this method on the requested resource ({method})", reason="MethodNotAllowed")
        except _APIError as error:
            self._send_status(error)

    def _patch(self, namespace: str, name: str, subresource: str | None, query: dict[str, str], raw: bytes) -> None:
        api = self.api
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with api._lock:
            api.patches.append(RecordedPatch(urlsplit(self.path).path, content_type, body, namespace, name, subresource, dict(query)))
        if content_type not in (MERGE_PATCH, JSON_PATCH):
            raise _APIError(
                415,
                f'the body of the request was in an unknown format - accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, application/apply-patch+yaml',
                reason="UnsupportedMediaType",
            )
        if isinstance(body, str):
            raise _APIError(400, "the body of the request was in an unknown format")
        with api._lock:
            current = api._require(namespace, name)
            try:
                if content_type == MERGE_PATCH:
                    new = merge_patch(current, body)
                    expected = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
                else:
                    new = json_patch(current, body)
                    expected = (new.get("metadata") or {}).get("resourceVersion") if isinstance(new, dict) else None
                    if expected == current["metadata"]["resourceVersion"]:
                        expected = None
            except _PatchError as exc:
                raise _APIError(exc.code, exc.message) from exc
            if query.get("dryRun"):
                raise _APIError(400, "dryRun is not supported by this fake API server")
            updated = api._update(current, new, keep_status=False, subresource=subresource, expected_rv=expected)
        self._send_json(200, updated)

    def _list(self, namespace: str | None, query: dict[str, str]) -> None:
        api = self.api
        try:
            labels = _parse_label_selector(query.get("labelSelector"))
            fields = _parse_field_selector(query.get("fieldSelector"))
        except ValueError as exc:
            raise _APIError(400, str(exc)) from exc
        limit = int(query.get("limit") or 0)
        start_after = None
        with api._lock:
            rv = api._rv
            if query.get("continue"):
                try:
                    token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                    start_after = tuple(token["start"])
                    rv = token["rv"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise _APIError(400, "continue key is not valid") from exc
            items = []
            for key, obj in sorted(api._objects.items()):
                if namespace is not None and key[0] != namespace:
                    continue
                if start_after is not None and key <= start_after:
                    continue
                if _labels_match(obj, labels) and _fields_match(obj, fields):
                    items.append((key, copy.deepcopy(obj)))
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            items = items[:limit]
            token = {"start": list(items[-1][0]), "rv": rv}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            metadata["remainingItemCount"] = 0  # unknown with selectors; informative only
        self._send_json(200, {"apiVersion": api.api_version, "kind": f"{api.kind}List", "metadata": metadata, "items": [o for _, o in items]})

    # -- watch --

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _write_event(self, kind: str, obj: dict[str, Any]) -> None:
        self._write_chunk(json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n")

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _watch(self, namespace: str | None, query: dict[str, str]) -> None:
        api = self.api
        try:
            watcher = _Watcher(
                namespace,
                _parse_label_selector(query.get("labelSelector")),
                _parse_field_selector(query.get("fieldSelector")),
                _truthy(query.get("allowWatchBookmarks")),
            )
        except ValueError as exc:
            raise _APIError(400, str(exc)) from exc
        timeout = query.get("timeoutSeconds")
        deadline = time.monotonic() + int(timeout) if timeout not in (None, "") else None
        rv_text = query.get("resourceVersion") or ""
        expired: dict[str, Any] | None = None
        replay: list[tuple[str, dict[str, Any]]] = []
        with api._lock:
            if rv_text in ("", "0"):
                # No resourceVersion: synthetic ADDED events for the current state.
                for _, obj in sorted(api._objects.items()):
                    if watcher.matches(obj):
                        replay.append(("ADDED", copy.deepcopy(obj)))
            else:
                try:
                    since = int(rv_text)
                except ValueError as exc:
                    raise _APIError(400, f'invalid resource version "{rv_text}"') from exc
                if since < api._compacted_rv:
                    expired = api.status_object(410, f"too old resource version: {since} ({api._compacted_rv})", reason="Expired")
                else:
                    for entry in api._history:
                        if entry.rv > since:
                            translated = watcher.translate(entry)
                            if translated:
                                replay.append((translated[0], copy.deepcopy(translated[1])))
            if expired is None:
                api._watchers.add(watcher)
                api._watchers_changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            if expired is not None:
                self._write_event("ERROR", expired)
                self._write_chunk(b"")
                return
            for kind, obj in replay:
                self._write_event(kind, obj)
            while True:
                wait = 0.2
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._write_chunk(b"")
                        return
                    wait = min(wait, remaining)
                try:
                    item = watcher.queue.get(timeout=wait)
                except queue.Empty:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    continue
                if item is _END:
                    self._write_chunk(b"")
                    return
                if item is _DROP or item is _RESET:
                    if item is _RESET:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                    else:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if isinstance(item, tuple) and item[0] == "BOOKMARK":
                    self._write_event("BOOKMARK", {"kind": api.kind, "apiVersion": api.api_version, "metadata": {"resourceVersion": item[1]}})
                    continue
                translated = watcher.translate(item)
                if translated:
                    self._write_event(translated[0], copy.deepcopy(translated[1]))
        except OSError:
            self.close_connection = True
        finally:
            with api._lock:
                api._watchers.discard(watcher)
                api._watchers_changed.notify_all()

    # -- verbs --

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")
