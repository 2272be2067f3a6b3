"""CovetPy: the HTTP hot path in Rust, a Pythonic API on top.

```python
from covetpy import App

app = App()

@app.get("/")
def hello() -> str:
    return "Hello, World!"
```

The names below are imported on first use (PEP 562), so a process that needs only a part of
the package (the `covetpy run` supervisor, a worker of a small app) does not pay for the rest:
`import covetpy.app` alone pulls in some 300 modules (adrs/0020).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covetpy._lazy import exports

if TYPE_CHECKING:
    from covetpy._core import __version__
    from covetpy.app import App
    from covetpy.background import BackgroundTasks
    from covetpy.datastructures import UploadFile
    from covetpy.exceptions import (
        ConfigError,
        CovetError,
        HTTPException,
        MissingExtra,
        RequestValidationError,
        RouteError,
    )
    from covetpy.params import Body, Cookie, Depends, File, Form, Header, Query
    from covetpy.requests import Headers, PeerIdentity, QueryParams, Request
    from covetpy.responses import Response
    from covetpy.routing.router import Router
    from covetpy.settings import Secret, Settings
    from covetpy.websocket import WebSocket, WebSocketDisconnect

# Imported on first use (covetpy._lazy).
__getattr__, __dir__ = exports(
    __name__,
    {
        "covetpy._core": ["__version__"],
        "covetpy.app": ["App"],
        "covetpy.background": ["BackgroundTasks"],
        "covetpy.datastructures": ["UploadFile"],
        "covetpy.exceptions": [
            "ConfigError",
            "CovetError",
            "HTTPException",
            "MissingExtra",
            "RequestValidationError",
            "RouteError",
        ],
        "covetpy.params": ["Body", "Cookie", "Depends", "File", "Form", "Header", "Query"],
        "covetpy.requests": ["Headers", "PeerIdentity", "QueryParams", "Request"],
        "covetpy.responses": ["Response"],
        "covetpy.routing.router": ["Router"],
        "covetpy.settings": ["Secret", "Settings"],
        "covetpy.websocket": ["WebSocket", "WebSocketDisconnect"],
    },
)

__all__ = [
    "App",
    "BackgroundTasks",
    "Body",
    "ConfigError",
    "Cookie",
    "CovetError",
    "Depends",
    "File",
    "Form",
    "HTTPException",
    "Header",
    "Headers",
    "MissingExtra",
    "PeerIdentity",
    "Query",
    "QueryParams",
    "Request",
    "RequestValidationError",
    "Response",
    "RouteError",
    "Router",
    "Secret",
    "Settings",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
]
