"""A response that never leaves Rust (`App.add_static`), for the pipelining target."""

from covetpy import App

app = App(openapi_url=None)
app.add_static("/", "Hello, World!")
