"""The provider contract suite: what every provider promises imagegen, checked against a real provider.

A provider package runs it against itself by subclassing in one of its test modules; pytest collects
the inherited tests (they need no fixtures, and nothing here imports pytest)::

    from imagegen.testing import ProviderContract

    class TestAcmeContract(ProviderContract):
        models = ("acme-v2",)
        params = {"steps": 2}                       # added to every request it plans (keep local models quick)

        def make_provider(self, model):
            return AcmeProvider(model)

A provider that talks to an HTTP API subclasses ``HTTPProviderContract`` instead: the suite starts a
``ScriptedServer`` (``self.server``) for each test, builds the provider pointed at it, and scripts
the API's answers with the three methods it is given::

    class TestAcmeContract(HTTPProviderContract):
        models = ("acme-v2",)
        api_key = "acme-test-key-0123456789"

        def make_provider(self, model):
            return AcmeProvider(model, api_key=self.api_key, base_url=self.server.url)

        def ok(self, request):                      # the API's answer to a request that works
            return Reply.json({"images": [...]})    # as many images, of the size, as the request asks

        def error(self, status, message):           # the API's error answer
            return Reply.json({"error": {"message": message}}, status=status)

        def refusal(self, request):                 # how the API refuses a prompt
            return self.error(400, "rejected by the safety system")

What it checks, for every model in ``models``:

- the provider's name, model, ``spec_version`` and ``Capabilities`` are valid, and ``capabilities()`` is
  stable;
- every kind of request ``normalize`` plans for it (each operation it declares; sizes: the default,
  each fixed size or the corners of its free sizes; ``n`` split over calls; the seed, negative prompt,
  guidance, quality, style, strength and control scale it supports, and whatever ``params`` adds) is
  accepted: it answers with as many images as asked, of the size asked, seeds kept;
- an operation it does not declare is ``UnsupportedFeature``, before anything is sent;
- a request whose ``cancel`` event is set is refused with an ``ImageGenError`` before anything is
  sent; a call cancelled while in flight raises ``CancelledError``, and the provider works after;
- ``aclose()`` can be called twice, and the provider works after it;
- and, for HTTP providers: 401 is ``AuthenticationError``, 429 is ``RateLimited`` with its
  ``retry_after``, 5xx and bodies cut short are ``TransientError``, a refusal is
  ``ContentPolicyError``; each fault is one request (the SDK does not retry: imagegen's retry layer
  is the only one), and no error, cause or traceback carries the API key, even when the API echoes it.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import io
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from ..client import Client
from ..errors import (
    AuthenticationError,
    ContentPolicyError,
    ImageGenError,
    RateLimited,
    TransientError,
    UnsupportedFeature,
)
from ..imageio import ImageData
from ..normalize import normalize
from ..params import OPERATIONS, GenerateParams
from ..provider import SPEC_VERSION, SUPPORTABLE, Capabilities, Provider, ProviderRequest, ProviderResponse
from ..result import COST_SOURCES, GeneratedImage
from ._server import Answer, Hang, RecordedRequest, Reply, ScriptedServer

__all__ = ["HTTPProviderContract", "ProviderContract"]

T = TypeVar("T")
#: An operation's inputs: which images it needs (``normalize`` plans nothing without them).
_INPUTS = {"img2img": ("image",), "inpaint": ("image", "mask"), "variation": ("image",),
           "controlnet": ("control_image",)}
#: How long a scenario may wait for something to happen before it fails (a bound, not a timing).
_PATIENCE_STEPS = 12000


class ProviderContract(abc.ABC):
    """The contract every provider keeps; subclass it as ``Test...`` and set ``models`` and
    ``make_provider`` (see the module docstring)."""

    #: The model ids to check, each built with ``make_provider``.
    models: ClassVar[Sequence[str]] = ()
    #: ``GenerateParams`` fields added to every request the suite plans (e.g. ``{"steps": 2}``).
    params: ClassVar[Mapping[str, Any]] = {}
    #: More fields for one operation's requests (e.g. ``{"controlnet": {"control_model": path}}``).
    operation_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    prompt: ClassVar[str] = "a red circle on a blue background"

    @abc.abstractmethod
    def make_provider(self, model: str) -> Provider:
        """A new provider instance for ``model``, ready to generate."""

    # -- the tests -----------------------------------------------------------------------------------

    def test_contract_names_the_models_it_checks(self) -> None:
        assert self.models, f"{type(self).__name__}.models: name at least one model to check"

    def test_capabilities_are_valid_and_stable(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)
            label = f"{getattr(provider, 'name', '?')}:{getattr(provider, 'model', '?')}"
            assert isinstance(provider, Provider), f"{label}: not a Provider (name, model, capabilities, generate)"
            assert isinstance(provider.name, str) and provider.name and ":" not in provider.name, label
            assert isinstance(provider.model, str) and provider.model, label
            version = getattr(provider, "spec_version", 1)
            assert isinstance(version, int) and 1 <= version <= SPEC_VERSION, f"{label}: spec_version {version!r}"
            caps = provider.capabilities()
            assert isinstance(caps, Capabilities), f"{label}: capabilities() must return Capabilities"
            assert caps == provider.capabilities(), f"{label}: capabilities() changes between calls"
            assert caps.operations and set(caps.operations) <= set(OPERATIONS), f"{label}: {caps.operations}"
            assert set(caps.supports) <= SUPPORTABLE, f"{label}: unknown supports {set(caps.supports) - SUPPORTABLE}"
            for name, values in (("quality", caps.qualities), ("style", caps.styles)):
                assert values is None or (values and name in caps.supports), (
                    f"{label}: {name} values are listed but {name!r} is not in supports")
            if caps.sizes is not None:
                assert all(w > 0 and h > 0 for w, h in caps.sizes), f"{label}: {sorted(caps.sizes)}"
            assert caps.max_images_per_call >= 1 and caps.max_seed >= 0, label
            self._run(self._closed(provider))

    def test_every_request_normalize_plans_is_accepted(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)
            self._run(self._every_plan(provider))

    def test_an_operation_it_does_not_declare_is_unsupported_feature_before_anything_is_sent(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)
            caps = provider.capabilities()
            for operation in (op for op in OPERATIONS if op not in caps.operations):
                inputs = self._inputs(operation, caps)
                sent = self._sent()
                try:
                    Client(provider, retry=False).generate(self.prompt, {"operation": operation, **inputs})
                except UnsupportedFeature as exc:
                    assert exc.field == "operation", f"{_label(provider)} {operation}: field {exc.field!r}"
                else:
                    raise AssertionError(f"{_label(provider)} does not declare {operation}, yet it was planned")
                assert self._sent() == sent, f"{_label(provider)} {operation}: a request was sent"
            self._run(self._closed(provider))

    def test_a_cancelled_request_is_refused_before_it_is_sent(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)
            req = self._request(provider)
            req.cancel = threading.Event()
            req.cancel.set()
            sent = self._sent()
            error = self._run(self._raises(provider, provider.generate(req), ImageGenError))
            assert self._sent() == sent, f"{_label(provider)}: a cancelled request was sent ({error})"

    def test_a_call_cancelled_in_flight_raises_cancelled_error_and_the_provider_works_after(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)
            self._run(self._cancel_in_flight(provider))

    def test_aclose_twice_then_the_provider_still_works(self) -> None:
        for model in self.models:
            provider = self.make_provider(model)

            async def scenario(provider: Provider = provider) -> None:
                await self._accepted(provider, self._request(provider))
                await _aclose(provider)
                await _aclose(provider)
                await self._accepted(provider, self._request(provider))
                await _aclose(provider)

            self._run(scenario())

    # -- hooks a subclass may change -----------------------------------------------------------------

    def call_started(self, progress: Sequence[object]) -> bool:
        """Whether the held call has started: it reported progress, or (HTTP) it reached the server."""
        return bool(progress)

    def _sent(self) -> int:
        """Requests that reached the backend so far (an HTTP provider counts its server's)."""
        return 0

    # -- scenarios ----------------------------------------------------------------------------------

    async def _every_plan(self, provider: Provider) -> None:
        caps = provider.capabilities()
        for params in self._cases(caps):
            plan = normalize(self.prompt, params, caps, provider=_label(provider))
            for req in plan.requests:
                await self._accepted(provider, req)
        await _aclose(provider)

    async def _accepted(self, provider: Provider, req: ProviderRequest) -> ProviderResponse:
        label = f"{_label(provider)} {req.operation} {req.width}x{req.height} n={req.n}"
        try:
            response = await provider.generate(req)
        except ImageGenError as exc:
            raise AssertionError(f"{label}: a request normalize planned was refused: {type(exc).__name__}: "
                                 f"{exc}") from exc
        assert isinstance(response, ProviderResponse), f"{label}: generate must return a ProviderResponse"
        assert len(response.images) == req.n, f"{label}: {len(response.images)} images for n={req.n}"
        for i, image in enumerate(response.images):
            assert isinstance(image, GeneratedImage), f"{label}: image {i} is {type(image).__name__}"
            assert (image.width, image.height) == req.size, (
                f"{label}: image {i} is {image.width}x{image.height}, not the size asked")
            assert image.data and ImageData.from_bytes(image.data).size == image.size, f"{label}: image {i} bytes"
            want = req.seeds[i] if i < len(req.seeds) else None
            assert want is None or image.seed in (None, want), f"{label}: image {i} seed {image.seed}, asked {want}"
        cost = response.cost
        assert cost is None or cost.source is None or cost.source in COST_SOURCES, f"{label}: cost {cost}"
        assert all(isinstance(w, str) for w in response.warnings), f"{label}: warnings must be strings"
        return response

    async def _cancel_in_flight(self, provider: Provider) -> None:
        progress: list[object] = []
        lock = threading.Lock()
        cancel = threading.Event()

        def note(event: object) -> None:  # the first progress report holds the call until it is cancelled
            with lock:
                progress.append(event)
            cancel.wait(120)

        req = dataclasses.replace(self._request(provider), progress=note, cancel=cancel)
        task = asyncio.ensure_future(provider.generate(req))
        for _ in range(_PATIENCE_STEPS):
            if task.done() or self.call_started(progress):
                break
            await asyncio.sleep(0.01)
        assert not task.done(), f"{_label(provider)}: the call ended before it could be cancelled"
        task.cancel()
        assert req.cancel is not None
        req.cancel.set()  # what a Client does for a call it gives up on
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError(f"{_label(provider)}: a call cancelled in flight returned instead of raising "
                                 "CancelledError")
        await self._accepted(provider, self._request(provider))
        await _aclose(provider)

    async def _closed(self, provider: Provider) -> None:
        await _aclose(provider)

    async def _raises(self, provider: Provider, call: Awaitable[Any], expected: type[BaseException]) -> BaseException:
        try:
            await call
        except expected as exc:
            return exc
        finally:
            await _aclose(provider)
        raise AssertionError(f"{_label(provider)}: expected {expected.__name__}")

    # -- building requests ----------------------------------------------------------------------------

    def _cases(self, caps: Capabilities) -> Iterator[GenerateParams]:
        """One request per operation and size, and one whose n is split over calls; every supported
        parameter set."""
        for operation in sorted(caps.operations):
            sizes = _sizes(caps)
            for k, size in enumerate(sizes):
                yield self._params(caps, operation, size=size, n=1, k=k)
            yield self._params(caps, operation, size=None, n=min(caps.max_images_per_call + 1, 8), k=len(sizes))

    def _params(self, caps: Capabilities, operation: str, *, size: Any, n: int, k: int) -> GenerateParams:
        fields: dict[str, Any] = {"operation": operation, "n": n, **self._inputs(operation, caps)}
        if size is not None:
            fields["size"] = size
        supports = caps.supports
        if "seed" in supports:
            fields["seed"] = 7 + k
        if "negative_prompt" in supports:
            fields["negative_prompt"] = "blurry"
        if "guidance" in supports:
            fields["guidance"] = 5.0
        if "quality" in supports and caps.qualities:
            fields["quality"] = sorted(caps.qualities)[k % len(caps.qualities)]
        if "style" in supports and caps.styles:
            fields["style"] = sorted(caps.styles)[k % len(caps.styles)]
        if "strength" in supports and operation in ("img2img", "inpaint"):
            fields["strength"] = 0.6
        if "control_scale" in supports and operation == "controlnet":
            fields["control_scale"] = 0.8
        fields.update(self.params)
        fields.update(self.operation_params.get(operation, {}))
        return GenerateParams(**fields)

    def _inputs(self, operation: str, caps: Capabilities) -> dict[str, bytes]:
        w, h = caps.default_size or (64, 64)
        return {name: _png(w, h, mask=name == "mask") for name in _INPUTS.get(operation, ())}

    def _request(self, provider: Provider) -> ProviderRequest:
        caps = provider.capabilities()
        operation = "txt2img" if "txt2img" in caps.operations else sorted(caps.operations)[0]
        params = self._params(caps, operation, size=None, n=1, k=0)
        return normalize(self.prompt, params, caps, provider=_label(provider)).requests[0]

    def _run(self, scenario: Awaitable[T]) -> T:
        async def main() -> T:
            return await scenario

        return asyncio.run(main())


class HTTPProviderContract(ProviderContract):
    """The contract for a provider that talks to an HTTP API, checked against a ``ScriptedServer``
    (``self.server``, started for each test): the base contract, plus its error mapping and secrecy."""

    #: The API key the provider is built with (it must never appear in an error).
    api_key: ClassVar[str] = ""

    server: ScriptedServer

    @abc.abstractmethod
    def ok(self, request: RecordedRequest) -> Reply:
        """The API's answer to ``request`` when it works: as many images, of the size, as it asks."""

    @abc.abstractmethod
    def error(self, status: int, message: str) -> Reply:
        """The API's answer for an error with this HTTP ``status`` and ``message``."""

    @abc.abstractmethod
    def refusal(self, request: RecordedRequest) -> Answer:
        """How the API refuses ``request``'s prompt (its content filter)."""

    def setup_method(self, method: Callable[..., Any] | None = None) -> None:
        self.server = ScriptedServer(default=self.ok)

    def teardown_method(self, method: Callable[..., Any] | None = None) -> None:
        self.server.__exit__(None)

    def call_started(self, progress: Sequence[object]) -> bool:
        return self.server.count > self._held_at

    def _sent(self) -> int:
        return self.server.count

    async def _cancel_in_flight(self, provider: Provider) -> None:
        self._held_at = self.server.count
        self.server.push(Hang(seconds=120))  # the call stays in flight until it is cancelled
        await super()._cancel_in_flight(provider)

    # -- the error mapping ----------------------------------------------------------------------------

    def test_401_is_authentication_error_and_the_key_stays_out_of_it(self) -> None:
        self._fault(self.error(401, f"Incorrect API key provided: {self.api_key}."), AuthenticationError)

    def test_403_is_authentication_error(self) -> None:
        self._fault(self.error(403, "This key may not use this model"), AuthenticationError)

    def test_429_is_rate_limited_with_its_retry_after(self) -> None:
        answer = self.error(429, f"Rate limit reached for key {self.api_key}")
        answer = dataclasses.replace(answer, headers={**answer.headers, "Retry-After": "7"})
        for error in self._fault(answer, RateLimited):
            assert isinstance(error, RateLimited) and error.retry_after == 7.0, (
                f"429 with Retry-After: 7 gave retry_after={getattr(error, 'retry_after', None)!r}")

    def test_5xx_is_transient_error(self) -> None:
        for status in (500, 502, 503):
            self._fault(self.error(status, f"upstream failed (Authorization: Bearer {self.api_key})"),
                        TransientError)

    def test_a_body_cut_short_is_transient_error(self) -> None:
        self._fault(lambda request: self.ok(request).truncated(), TransientError)

    def test_a_refusal_is_content_policy_error(self) -> None:
        self._fault(self.refusal, ContentPolicyError)

    def _fault(self, answer: Answer, expected: type[ImageGenError]) -> list[ImageGenError]:
        """Every model's one call, answered with ``answer``: the error is ``expected``, it took one
        request, and it carries no key."""
        found = []
        for model in self.models:
            provider = self.make_provider(model)
            req = self._request(provider)
            before = self.server.count
            self.server.push(answer)
            error = self._run(self._failing(provider, req))
            label = f"{_label(provider)}"
            assert isinstance(error, expected), (
                f"{label}: expected {expected.__name__}, got {type(error).__name__}: {error}")
            assert self.server.count == before + 1, (
                f"{label}: {self.server.count - before} requests for one call (the SDK's own retries must be off)")
            self._assert_no_key(error, label)
            found.append(error)
        return found

    async def _failing(self, provider: Provider, req: ProviderRequest) -> BaseException:
        try:
            await provider.generate(req)
        except ImageGenError as exc:
            return exc
        finally:
            await _aclose(provider)
        raise AssertionError(f"{_label(provider)}: the call succeeded")

    def _assert_no_key(self, error: BaseException, label: str) -> None:
        if not self.api_key:
            return
        texts = [str(error), repr(error), "".join(traceback.format_exception(type(error), error, error.__traceback__))]
        current: BaseException | None = error
        while current is not None:
            texts += [str(current), repr(current.args), repr({k: v for k, v in vars(current).items()
                                                             if k != "images"})]
            current = current.__cause__ or current.__context__
        leaked = [t for t in texts if self.api_key in t]
        assert not leaked, f"{label}: the API key is in the error: {leaked[0][:300]}"


def _label(provider: Provider) -> str:
    return f"{provider.name}:{provider.model}"


async def _aclose(provider: Provider) -> None:
    closer = getattr(provider, "aclose", None)
    if closer is not None:
        await closer()


def _sizes(caps: Capabilities) -> list[Any]:
    """The sizes to ask for: the default, then each fixed size, or the corners of the free sizes."""
    if caps.sizes is not None:
        return [None, *sorted(caps.sizes)]
    lo = -(-caps.min_side // caps.multiple_of) * caps.multiple_of
    aspect = caps.max_aspect or 3.0
    ratio = f"{aspect:g}:1"
    return [None, (lo, lo), "16:9", "9:16", ratio, f"1:{aspect:g}"]


def _png(width: int, height: int, *, mask: bool = False) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (0, 0, 0) if mask else (40, 90, 200))
    draw = ImageDraw.Draw(im)
    draw.rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4),
                   fill=(255, 255, 255) if mask else (220, 40, 40))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
