"""CovetPy: the HTTP hot path in Rust, a Pythonic API on top.

```python
from covetpy import App

app = App()

@app.get("/")
def hello() -> str:
    return "Hello, World!"
```
"""

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
