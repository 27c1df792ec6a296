"""File responses: exports made for one request, and documents stored once and never changed."""

from __future__ import annotations

from flask import Response, request

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(body, mimetype: str, filename: str) -> Response:
    """An export to save (a body or a generator of chunks): attachment, kept by no cache (it holds customers' data)."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                      "Cache-Control": "private, no-store"})


def stored_document(content: bytes, filename: str, sha256: str, *, mimetype: str = "application/pdf") -> Response:
    """A stored document's exact bytes; `inline=1` shows it in the page. Its hash is the ETag: it never changes."""
    inline = request.args.get("inline") == "1"
    response = Response(bytes(content), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(sha256)
    return response.make_conditional(request)
