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
from covetpy.exceptions import ConfigError, CovetError, HTTPException, RouteError
from covetpy.requests import Headers, QueryParams, Request
from covetpy.responses import Response

__all__ = [
    "App",
    "ConfigError",
    "CovetError",
    "HTTPException",
    "Headers",
    "QueryParams",
    "Request",
    "Response",
    "RouteError",
    "__version__",
]
