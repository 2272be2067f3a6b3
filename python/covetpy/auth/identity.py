"""`request.auth`: who made the request, as the authentication layer verified it.

`Identity` is implemented in Rust (`rust/bridge/auth_identity.rs`): a handle on what the layer
verified, made once per request that asks for it, whose sets and claims become Python objects
only when read. Python-verified layers make their own with the same constructor:
`Identity(scheme, subject, scopes=(), roles=(), permissions=None, claims=None)`.
"""

from covetpy._core import Identity

__all__ = ["Identity"]
