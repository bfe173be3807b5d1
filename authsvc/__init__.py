"""authsvc: forward-auth decisions for reverse proxies, backed by an Authorizer server."""

__version__ = "0.1.0"
