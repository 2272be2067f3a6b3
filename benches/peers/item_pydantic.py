"""The same typed object as `benches.peers.item.Item`, as a pydantic model: what FastAPI,
BlackSheep and Robyn validate request bodies with natively."""

from pydantic import BaseModel


class Item(BaseModel):
    name: str
    price: float
    quantity: int
    description: str
    tags: list[str]
