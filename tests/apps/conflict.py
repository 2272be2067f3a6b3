"""An app whose routes conflict: start-up must fail and name both routes."""

from covetpy import App

app = App()


@app.get("/users/{user_id:int}")
def by_id(user_id: int) -> str:
    return "id"


@app.get("/users/{name}")
def by_name(name: str) -> str:
    return name
