"""Authorization by the caller's workload identity: the client certificate a trusted proxy
checked (`request.peer_identity`, from `x-forwarded-client-cert`).

```python
admin_only = require_identity("spiffe://cluster.local/ns/ops/sa/admin")

@app.post("/flush")
def flush(caller: PeerIdentity = Depends(admin_only)) -> None: ...
```
"""

from __future__ import annotations

from collections.abc import Callable

from covetpy._core import PeerIdentity, Request
from covetpy.exceptions import HTTPException

__all__ = ["require_identity"]


def require_identity(
    *spiffe_ids: str, trust_domain: str | None = None
) -> Callable[[Request], PeerIdentity]:
    """A dependency that returns the caller's `PeerIdentity`, or answers 403 when there is
    none (no trusted proxy, no client certificate) or it is not allowed: allowed are the
    given SPIFFE ids, or any id in `trust_domain` (`spiffe://<trust_domain>/...`); with
    neither, any caller with an identity."""
    if not spiffe_ids and trust_domain is None:
        allowed: Callable[[str | None], bool] = lambda _: True  # noqa: E731
    else:
        ids = frozenset(spiffe_ids)
        prefix = None if trust_domain is None else f"spiffe://{trust_domain}/"

        def allowed(spiffe_id: str | None) -> bool:
            if spiffe_id is None:
                return False
            return spiffe_id in ids or (prefix is not None and spiffe_id.startswith(prefix))

    def identity(request: Request) -> PeerIdentity:
        peer = request.peer_identity
        if peer is None:
            raise HTTPException(403, "a client certificate checked by a trusted proxy is required")
        if not allowed(peer.spiffe_id):
            raise HTTPException(403, f"{peer.spiffe_id or 'this identity'} is not allowed here")
        return peer

    return identity
