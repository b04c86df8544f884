"""``imagegen serve``: the OpenAI Images API and the AUTOMATIC1111 API over any chain of providers.

Installed with the ``server`` extra (``pip install "imagegen-sdk[server]"``: FastAPI, uvicorn,
python-multipart); ``import imagegen`` never imports it. ``create_app(config)`` builds the ASGI app, to
run with uvicorn (``imagegen serve`` does), mount inside another app, or deploy with Ray Serve::

    from imagegen.server import ServerConfig, create_app
    app = create_app(ServerConfig(providers=["diffusers:imagegen-mini"], ledger="ledger.sqlite"))
"""

from .app import create_app
from .config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, check_listen, parse_alias
from .keys import add_key, hash_key, load_keys
from .run import serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerConfig", "add_key", "check_listen", "create_app", "hash_key",
           "load_keys", "parse_alias", "serve"]
