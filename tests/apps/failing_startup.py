"""An app whose start-up hook fails: the server must exit non-zero, not serve."""

from covetpy import App

app = App()


@app.on_startup
def broken() -> None:
    raise RuntimeError("database unreachable")
