"""``imagegen serve --ray``: the same app as ``create_app``, deployed with Ray Serve as N replicas.

Each replica builds the app from the same ``ServerConfig`` (``__serve_build_asgi_app__``, so nothing but
that plain config is pickled), so the endpoints, the keys and the limits on a request are the ones of the
single-process server. What must be one for all replicas is one:

- **the ledger and the budget**: every replica writes the same SQLite ledger file, and budget reservations
  live in it (``imagegen.budget``), so the server's cap and each key's cap hold across replicas. A file is
  shared by the processes of one machine, so while a ledger or a budget is set the replicas are placed on
  the machine ``serve --ray`` runs on (one per GPU there); with neither they may go anywhere in the cluster.
- **finished images** kept for ``url`` answers and the page's gallery live in one Ray actor, so an image
  made by one replica is fetched from any.

Per replica: the admission queue (``--max-queue``), a key's rpm window, and A1111's selected checkpoint,
``/progress`` and ``/interrupt`` (each request reaches one replica; ``/options`` changes only the one that
answers it). Ray Serve's proxy listens on ``host:port`` and spreads requests over the replicas.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import ray
from ray import serve
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..cluster import connect
from ..errors import InvalidRequest
from .app import create_app
from .config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, check_listen
from .service import ImageStore, StoredImage

__all__ = ["APP_NAME", "SharedImages", "build", "placement", "serve_on_ray"]

APP_NAME = "imagegen"


class SharedImages(ImageStore):
    """A replica's view of the one image store (an ``ImageStore`` running as a Ray actor)."""

    def __init__(self, actor: Any, limit: int) -> None:
        super().__init__(limit)
        self._actor = actor

    def add(self, data: bytes, mime: str, meta: dict[str, Any]) -> StoredImage | None:
        found: StoredImage | None = ray.get(self._actor.add.remote(data, mime, meta))
        return found

    def get(self, image_id: str) -> StoredImage | None:
        found: StoredImage | None = ray.get(self._actor.get.remote(image_id))
        return found

    def recent(self, limit: int) -> list[StoredImage]:
        found: list[StoredImage] = ray.get(self._actor.recent.remote(limit))
        return found


class Replica:
    """One Ray Serve replica of the server: the app ``create_app(config)`` builds, in this process."""

    def __init__(self, config: ServerConfig, images: Any = None) -> None:
        self.config = config
        self.images = images

    def __serve_build_asgi_app__(self) -> Any:
        app = create_app(self.config)
        if self.images is not None:
            app.state.service.images = SharedImages(self.images, self.config.keep_images)
        return app


def placement(config: ServerConfig, *, replicas: int | None, gpus_per_replica: float | None,
              cpus_per_replica: float) -> tuple[int, dict[str, Any]]:
    """(replicas, each one's Ray actor options), checked against the cluster: one replica per GPU by
    default, and every replica on this machine while a ledger or budget must be shared."""
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
        raise InvalidRequest(f"replicas: must be a whole number >= 1; got {replicas!r}", field="replicas")
    for name, value in (("gpus_per_replica", gpus_per_replica), ("cpus_per_replica", cpus_per_replica)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise InvalidRequest(f"{name}: must be a number >= 0; got {value!r}", field=name)
    here = ray.get_runtime_context().get_node_id()
    pinned = config.ledger is not None or config.budget_usd is not None
    alive = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
    nodes = [n for n in alive if not pinned or n.get("NodeID") == here]
    gpus = sum(float(n.get("Resources", {}).get("GPU", 0.0)) for n in nodes)
    per_gpu = gpus_per_replica if gpus_per_replica is not None else (1.0 if gpus >= 1 else 0.0)
    if per_gpu > 0 and gpus < per_gpu:
        where = "this machine" if pinned else "the cluster"
        raise InvalidRequest(f"gpus_per_replica: {per_gpu:g} GPUs per replica, but {where} has {gpus:g}; use 0 "
                             "for CPU replicas", field="gpus_per_replica")
    count = replicas if replicas is not None else (max(1, int(gpus // per_gpu)) if per_gpu else 1)
    options: dict[str, Any] = {"num_cpus": float(cpus_per_replica), "num_gpus": float(per_gpu)}
    if pinned:
        options["resources"] = {f"node:{ray.util.get_node_ip_address()}": 0.001}  # type: ignore[no-untyped-call]
    return count, options


def build(config: ServerConfig, *, replicas: int | None = None, gpus_per_replica: float | None = None,
          cpus_per_replica: float = 1.0) -> Any:
    """The Ray Serve application (``serve.run`` it), on a Ray this process has joined. Paths in ``config``
    become absolute (replicas may start elsewhere), and the app is built once here first, so a provider
    that cannot be served fails now rather than in every replica."""
    config = config.model_copy(update={k: os.path.abspath(v) for k in ("ledger", "keys_file")
                                       if (v := getattr(config, k)) is not None})
    asyncio.run(create_app(config).state.service.aclose())
    count, options = placement(config, replicas=replicas, gpus_per_replica=gpus_per_replica,
                               cpus_per_replica=cpus_per_replica)
    images = None
    if config.keep_images > 0:
        here = ray.get_runtime_context().get_node_id()
        images = ray.remote(ImageStore).options(  # type: ignore[attr-defined]
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
        ).remote(config.keep_images)
    deployment = serve.deployment(name="imagegen-server", num_replicas=count, ray_actor_options=options)(
        serve.ingress()(Replica))
    return deployment.bind(config, images)


def serve_on_ray(config: ServerConfig, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 insecure_no_auth: bool = False, address: bool | str = True, replicas: int | None = None,
                 gpus_per_replica: float | None = None, cpus_per_replica: float = 1.0,
                 stop: threading.Event | None = None) -> None:
    """Serve ``config`` with Ray Serve on ``host:port`` until SIGTERM, SIGINT or ``stop``; then the
    replicas finish the requests they hold and go."""
    check_listen(host, config, insecure_no_auth=insecure_no_auth)
    connect(address)
    app = build(config, replicas=replicas, gpus_per_replica=gpus_per_replica, cpus_per_replica=cpus_per_replica)
    done = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, name=APP_NAME, route_prefix="/")
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP_NAME)
        serve.shutdown()  # type: ignore[no-untyped-call]
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
