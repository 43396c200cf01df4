"""The request path: the Sanic app, validation, bodies, caching, problems, metrics."""
