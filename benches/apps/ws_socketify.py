"""The WebSocket scenarios on socketify.py (uWebSockets), run as a script:

    python -m benches.apps.ws_socketify PORT

- `/echo`: every message is sent back with its opcode.
- `/broadcast`: every socket subscribes to the topic "all"; a message from any socket is
  published to the topic with uWebSockets' native pub/sub (`app.publish`, which reaches the
  sender too, as the other servers' broadcast does), so the fan-out never enters Python.
- `GET /plaintext`: "Hello, World!".

Per-socket limits: 1 MiB messages, and 1 MiB of backpressure before uWebSockets skips a
subscriber (its default, 64 KiB, drops broadcasts to a busy subscriber much sooner than the
other servers, which queue them), no compression, no idle timeout.
"""

import sys
from typing import Any

from socketify import App, CompressOptions, OpCode

TOPIC = "all"


def main(port: int) -> None:
    app = App()

    def echo(ws: Any, message: Any, opcode: OpCode) -> None:
        ws.send(message, opcode)

    def join(ws: Any) -> None:
        ws.subscribe(TOPIC)

    def publish(ws: Any, message: Any, opcode: OpCode) -> None:
        app.publish(TOPIC, message, opcode)

    common = {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": 1024 * 1024,
        "max_backpressure": 1024 * 1024,
        "idle_timeout": 0,
    }
    app.ws("/echo", {**common, "message": echo})
    app.ws("/broadcast", {**common, "open": join, "message": publish})
    app.get("/plaintext", lambda res, req: res.end("Hello, World!"))
    app.listen(port, lambda config: None)
    app.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
