"""The smallest CovetPy service: `covetpy run examples.hello:app --port 8000`."""

from covetpy import App

app = App()


@app.get("/")
def hello() -> str:
    return "Hello, World!"


@app.get("/users/{user_id:int}")
async def user(user_id: int) -> dict[str, int]:
    return {"id": user_id}
