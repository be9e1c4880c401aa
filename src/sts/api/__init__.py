"""The STS REST API (FastAPI, versioned under ``/v1``), live streams, webhooks and exports.

Layout:

- :mod:`sts.api.app`         ``create_app(ctx)``: the FastAPI app, its middleware and routers
- :mod:`sts.api.context`     :class:`ApiContext`: what a running API process holds (pool, bus, cache, …)
- :mod:`sts.api.errors`      one error body for every failure: ``{"error": {"code", "message", …}}``
- :mod:`sts.api.pagination`  opaque cursors and the ``Page`` envelope
- :mod:`sts.api.deps`        FastAPI dependencies: a pooled connection, the caller's scopes
- :mod:`sts.api.auth`        API keys and scopes;  :mod:`sts.api.ratelimit` token buckets
- :mod:`sts.api.caching`     ETag / Cache-Control and the server-side cache the event stream invalidates
- :mod:`sts.api.hub`         one tail of the event bus per process, fanned out to streams and the cache
- :mod:`sts.api.routes`      one module per resource
"""
