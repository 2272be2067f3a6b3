"""An app with debug=True: 500s show the traceback."""

from covetpy import App

app = App(debug=True, openapi_url=None)


@app.get("/boom")
def boom() -> str:
    raise ValueError("visible in debug")
