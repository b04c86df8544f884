"""Running the server with uvicorn: what ``imagegen serve`` calls.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets every request in flight finish;
each one's ledger rows are written before its answer, and the ledger and the providers are closed once
the last has gone, so nothing that was accepted is lost.
"""

from __future__ import annotations

from typing import Any

from .config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, check_listen

__all__ = ["serve"]


def serve(config: ServerConfig, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, insecure_no_auth: bool = False,
          log_level: str = "info", drain_timeout: int | None = None, **uvicorn_options: Any) -> None:
    """Serve ``config`` on ``host:port`` until SIGTERM or SIGINT; ``drain_timeout``: seconds to wait for
    requests in flight after the signal (None: as long as they take)."""
    import uvicorn

    from .app import create_app

    check_listen(host, config, insecure_no_auth=insecure_no_auth)
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=drain_timeout,
                **uvicorn_options)
