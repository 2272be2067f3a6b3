"""The request object handlers receive when they annotate a parameter with `Request`.

It is implemented in Rust as a lazy view over the bytes the server received: `headers`,
`query_params`, `path_params` and the body become Python objects only when first used.
"""

from covetpy._core import Headers, PeerIdentity, QueryParams, Request

__all__ = ["Headers", "PeerIdentity", "QueryParams", "Request"]
