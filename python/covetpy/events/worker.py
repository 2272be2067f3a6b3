"""Running an event bus as a process of its own (a worker that only consumes).

```python
bus = EventBus(os.environ["COVETPY_EVENTS_URL"], service="fulfilment")

@bus.subscribe("orders.created")
async def ship(event: OrderCreated) -> None: ...

if __name__ == "__main__":
    covetpy.events.run(bus)
```

SIGTERM or SIGINT drains the bus (stop fetching, finish the handlers, ack) and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from covetpy.events.bus import EventBus

__all__ = ["run", "serve"]


async def serve(
    bus: EventBus,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Starts `bus`, waits for SIGTERM/SIGINT (or `stop`), then drains and closes it.
    `on_ready` is called once the subscriptions are consuming."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await bus.start()
        if on_ready is not None:
            result = on_ready()
            if result is not None:
                await result
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await bus.close()


def run(bus: EventBus) -> None:
    """Runs `bus` until SIGTERM/SIGINT, on uvloop where it is installed."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(bus))
