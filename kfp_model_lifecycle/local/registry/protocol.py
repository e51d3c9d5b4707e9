"""The HTTP protocol of the embedded registry: uvicorn's, with the registry's JSON body on malformed requests.

uvicorn answers a request it cannot parse (garbage, or a request line or headers over the parser's limit, e.g. a
100,000-character name in a find URL) with its own ``400`` and a ``text/plain`` body. Clients of the registry
expect ``{"code": "Bad Request", "message": ...}`` on every error, so :func:`protocol_class` answers that instead.
"""

from __future__ import annotations

import json
from typing import Any

# The llhttp parser behind httptools refuses a request line plus headers over 80 KiB.
_MESSAGE = (
    "invalid HTTP request: malformed, or its request line and headers are too long (keep them under 64 KiB;"
    " names are at most 255 characters)"
)


def _json_400() -> bytes:
    body = json.dumps({"code": "Bad Request", "message": _MESSAGE}).encode()
    head = (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


def protocol_class() -> type[Any]:
    """The HTTP protocol class of uvicorn (httptools if installed, else h11), answering malformed requests in JSON."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # httptools is optional: uvicorn then parses with h11
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class JsonErrorProtocol(Base):  # type: ignore[misc, valid-type]
        """The uvicorn protocol, answering an unparseable request with the JSON error body of the registry."""

        def send_400_response(self, msg: str) -> None:
            """Write the JSON 400 and close the connection (uvicorn logged ``msg`` already)."""
            self.transport.write(_json_400())
            self.transport.close()

    return JsonErrorProtocol
