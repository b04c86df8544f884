"""The OpenAI Images API under ``/v1``, as the ``openai`` SDKs send and parse it.

``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations`` (multipart:
one ``image`` part, or repeated ``image[]`` parts as the SDK sends a list and Open WebUI sends several),
``GET /v1/models``, and ``GET /v1/images/files/{id}`` for ``response_format="url"`` answers (the id is
random and unguessable, so the URL works in a browser or an ``<img>`` without a key, as OpenAI's own
signed URLs do). A request's ``model`` picks the chain; fields the chain cannot honour are dropped with
warnings, which the answer carries in its ``imagegen`` entry beside ``created``, ``data`` and ``usage``.
Fields beyond OpenAI's are imagegen's: ``seed``, ``steps``, ``guidance``, ``negative_prompt``,
``scheduler``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ImageGenError, InvalidRequest
from ..params import GenerateParams, build_params
from ..provider import PartialImage
from ..result import GeneratedImage, GenerationResult
from .errors import http_error, openai_body
from .images import encode_image, image_from_bytes
from .service import Chain, Job, Service, cost_header, per_image_cost, run_until_disconnected

__all__ = ["EditRequest", "GenerationRequest", "router"]

router = APIRouter(prefix="/v1")

Quality = Literal["standard", "hd", "low", "medium", "high", "auto"]


class GenerationRequest(BaseModel):
    """``POST /v1/images/generations``: OpenAI's fields, then imagegen's own."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    model: str | None = None
    n: int | None = Field(None, ge=1, le=128)
    size: str | None = Field(None, max_length=32)
    quality: Quality | None = None
    style: Literal["vivid", "natural"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    user: str | None = Field(None, max_length=256)
    safety_identifier: str | None = Field(None, max_length=256)
    stream: bool | None = None
    partial_images: int | None = Field(None, ge=0, le=3)
    # imagegen's own
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0, le=100)
    negative_prompt: str | None = None
    scheduler: str | None = Field(None, max_length=64)


class EditRequest(GenerationRequest):
    """``POST /v1/images/edits`` (the form fields; the images are file parts)."""

    input_fidelity: Literal["high", "low"] | None = None


#: Fields handed to the chain's providers as ``provider_options`` (when not their default): the OpenAI
#: provider sends them on, others drop them with a warning. ``output_format`` and ``output_compression``
#: are the server's own work: it encodes every answer in the format asked for.
_OPTIONS = ("background", "moderation", "input_fidelity")


def _schema(model: type[BaseModel], files: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = model.model_json_schema()
    if files is None:
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
    props = {**schema["properties"], **files}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props, "required": ["image", "prompt"] if "prompt" in props else ["image"]}}}}}


_FILE = {"type": "string", "format": "binary"}
_FILES = {"image": _FILE, "image[]": {"type": "array", "items": _FILE}, "mask": _FILE}


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """Every served name, as OpenAI's model list."""
    svc = service(request)
    created = int(svc.started)
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": created, "owned_by": "imagegen",
         "imagegen": {"providers": chain.specs}} for name, chain in svc.chains.items()]}


@router.post("/images/generations", openapi_extra=_schema(GenerationRequest))
async def generations(request: Request) -> Response:
    svc = service(request)
    key = request.state.key
    body = await _json(request)
    req = _validate(GenerationRequest, body)
    return await _serve(request, svc, req, key, images={})


@router.post("/images/edits", openapi_extra=_schema(EditRequest, _FILES))
async def edits(request: Request) -> Response:
    svc = service(request)
    fields, files = await _multipart(request, svc)
    req = _validate(EditRequest, fields)
    images = files.get("image", []) + files.get("image[]", [])
    if not images:
        raise InvalidRequest("image: an edit needs at least one image part ('image' or repeated 'image[]')",
                             field="image")
    return await _serve(request, svc, req, request.state.key, images={"image": images, "mask": files.get("mask", [])})


class VariationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    n: int | None = Field(None, ge=1, le=128)
    size: str | None = Field(None, max_length=32)
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(None, max_length=256)
    seed: int | None = Field(None, ge=0, le=2**64 - 1)


@router.post("/images/variations", openapi_extra=_schema(VariationRequest, {"image": _FILE}))
async def variations(request: Request) -> Response:
    svc = service(request)
    fields, files = await _multipart(request, svc)
    form = _validate(VariationRequest, fields)
    if not files.get("image"):
        raise InvalidRequest("image: a variation needs an 'image' part", field="image")
    # a variation has no prompt of its own; this one stands in for it in results, metadata and the gallery
    req = GenerationRequest(prompt="a variation of the input image", **form.model_dump(exclude_none=True))
    return await _serve(request, svc, req, request.state.key, images={"image": files["image"]}, variation=True)


@router.get("/images/files/{image_id}")
async def image_file(request: Request, image_id: str) -> Response:
    """A finished image by the id in a ``url`` answer (``.png``/``.jpeg``/``.webp`` suffix optional)."""
    found = service(request).images.get(image_id.split(".", 1)[0])
    if found is None:
        return JSONResponse(openai_body(http_error(InvalidRequest(
            "image: no such image here (images are kept in memory, the most recent only)", field="image"))),
            status_code=404)
    return Response(found.data, media_type=found.mime, headers={"Cache-Control": "private, max-age=86400"})


# -- parsing -------------------------------------------------------------------------------------

async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})", field="body", code="invalid_json") from None


def _validate(model: type[GenerationRequest] | type[VariationRequest], data: Any) -> Any:
    if not isinstance(data, dict):
        raise InvalidRequest("body: expected a JSON object", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "body"
        if err["type"] == "extra_forbidden":
            raise InvalidRequest(f"Unrecognized request argument supplied: {field}; allowed: "
                                 f"{', '.join(model.model_fields)}", field=field,
                                 code="unknown_parameter") from None
        shown = err.get("input")
        got = f" (got {shown!r})" if isinstance(shown, (str, int, float, bool)) and len(repr(shown)) < 80 else ""
        raise InvalidRequest(f"{field}: {err['msg']}{got}", field=field) from None


async def _multipart(request: Request, svc: Service) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """Form fields (strings, coerced to the JSON types the model expects) and file parts by name."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("body: edits and variations are multipart/form-data with image file parts",
                             field="body")
    try:
        form = await request.form(max_files=16, max_fields=64)
    except Exception as exc:
        raise InvalidRequest(f"body: cannot read the multipart form ({exc})", field="body") from None
    fields: dict[str, Any] = {}
    files: dict[str, list[bytes]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields[name] = _coerce(name, value)
        else:
            files.setdefault(name, []).append(await value.read())
    await form.close()
    return fields, files


_NUMBERS = {"n": int, "output_compression": int, "partial_images": int, "seed": int, "steps": int,
            "guidance": float}


def _coerce(name: str, value: str) -> Any:
    kind = _NUMBERS.get(name)
    if kind is not None:
        try:
            return kind(value)
        except ValueError:
            return value  # the model names the field and the type it wanted
    if name == "stream":
        return value.strip().lower() in ("true", "1")
    return value


# -- serving -------------------------------------------------------------------------------------

def _params(svc: Service, req: GenerationRequest, images: dict[str, list[bytes]], variation: bool,
            warnings: list[str]) -> GenerateParams:
    svc.check_prompts(prompt=req.prompt, negative_prompt=req.negative_prompt)
    n = req.n or 1
    if n > svc.config.max_images:
        raise InvalidRequest(f"n: at most {svc.config.max_images} images per request; got {n}", field="n")
    out: dict[str, Any] = {"n": n}
    if req.size not in (None, "", "auto"):
        out["size"] = req.size
        width, sep, height = req.size.lower().partition("x")
        if sep and width.strip().isdigit() and height.strip().isdigit():
            pixels = int(width) * int(height)
            if pixels > svc.config.max_image_pixels:
                raise InvalidRequest(f"size: {req.size} is {pixels} pixels; this server makes at most "
                                     f"{svc.config.max_image_pixels}", field="size")
    if req.quality not in (None, "auto"):
        out["quality"] = req.quality
    for name in ("style", "seed", "steps", "guidance", "negative_prompt", "scheduler"):
        if getattr(req, name) is not None:
            out[name] = getattr(req, name)
    options = {name: getattr(req, name, None) for name in _OPTIONS}
    options = {k: v for k, v in options.items() if v not in (None, "auto")}
    if options:
        out["provider_options"] = options
    pictures = images.get("image", [])
    if pictures:
        out["image"] = image_from_bytes(pictures[0], "image", svc.config.max_image_pixels)
        if len(pictures) > 1:
            warnings.append(f"image: imagegen edits take one input image; used the first of {len(pictures)}, "
                            f"the other {len(pictures) - 1} were not sent")
        for extra in pictures[1:]:
            image_from_bytes(extra, "image[]", svc.config.max_image_pixels)  # bad input is still refused
        out["operation"] = "variation" if variation else "img2img"
    masks = images.get("mask", [])
    if masks:
        out["mask"] = _mask(image_from_bytes(masks[0], "mask", svc.config.max_image_pixels))
        out["operation"] = "inpaint"
    return build_params(out)


def _mask(mask: Any) -> Any:
    """OpenAI masks are transparent where the image is edited; imagegen's are white there."""
    from PIL import Image

    from ..imageio import ImageData, encode_png

    im = mask.to_pil()
    if "A" not in im.getbands():
        return mask
    alpha = im.getchannel("A")
    white_where_clear = Image.eval(alpha, lambda a: 255 - a).convert("L")
    data = encode_png(white_where_clear)
    return ImageData(data=data, mime="image/png", width=mask.width, height=mask.height)


async def _serve(request: Request, svc: Service, req: GenerationRequest, key: Any, *,
                 images: dict[str, list[bytes]], variation: bool = False) -> Response:
    warnings: list[str] = []
    params = _params(svc, req, images, variation, warnings)
    chain = svc.chain(req.model)
    user = key.name if key is not None else req.user
    fmt, compression = req.output_format, req.output_compression
    if req.stream:
        return await _stream(request, svc, req, chain, params, user, warnings)
    async with svc.admitted("openai", user) as job:
        result = await run_until_disconnected(request.receive,
                                              svc.generate(job, req.prompt, params, chain))
    return _answer(request, svc, result, req, chain, fmt, compression, warnings)


def _answer(request: Request, svc: Service, result: GenerationResult, req: GenerationRequest, chain: Chain,
            fmt: str | None, compression: int | None, warnings: list[str]) -> Response:
    data = []
    share = per_image_cost(result)
    for image in result.images:
        encoded, mime = encode_image(image, fmt, compression)
        item: dict[str, Any] = {}
        if req.response_format == "url":
            stored = svc.keep(image, encoded, mime, result, cost_usd=share)
            if stored is None:
                raise InvalidRequest("response_format: 'url' needs the server to keep images (--keep-images > 0); "
                                     "ask for 'b64_json'", field="response_format")
            item["url"] = str(request.url_for("image_file", image_id=f"{stored.id}.{mime.split('/')[1]}"))
        else:
            svc.keep(image, encoded, mime, result, cost_usd=share)
            item["b64_json"] = base64.b64encode(encoded).decode("ascii")
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    first = result.images[0] if result.images else None
    if first is not None:
        body["size"] = f"{first.width}x{first.height}"
        body["output_format"] = (fmt or first.mime.split("/")[1]).replace("jpg", "jpeg")
    if req.quality is not None:
        body["quality"] = req.quality
    if req.background in ("transparent", "opaque"):
        body["background"] = req.background
    usage = _usage(result)
    if usage is not None:
        body["usage"] = usage
    body["imagegen"] = _extension(result, chain, warnings)
    return JSONResponse(body, headers=_headers(result))


def _usage(result: GenerationResult) -> dict[str, Any] | None:
    """OpenAI's ``usage`` object, from the token counts a provider reported (``usage["tokens"]``, summed over
    calls: text/image input and output, as imagegen-openai reports them); None when no provider counted tokens,
    rather than zeros a client would bill by. Shape: openai SDK ``types/images_response.py`` ``Usage``."""
    tokens = result.usage.get("tokens")
    if not isinstance(tokens, dict):
        return None
    try:
        text_in, image_in = int(tokens.get("text_input", 0)), int(tokens.get("image_input", 0))
        text_out, image_out = int(tokens.get("text_output", 0)), int(tokens.get("image_output", 0))
    except (TypeError, ValueError):
        return None
    return {"input_tokens": text_in + image_in, "output_tokens": text_out + image_out,
            "total_tokens": text_in + image_in + text_out + image_out,
            "input_tokens_details": {"text_tokens": text_in, "image_tokens": image_in},
            "output_tokens_details": {"text_tokens": text_out, "image_tokens": image_out}}


def _extension(result: GenerationResult, chain: Chain, warnings: list[str]) -> dict[str, Any]:
    return {"request_id": result.request_id, "provider": result.provider, "model": result.model,
            "served_as": chain.name, "seeds": result.seeds, "cost_usd": result.cost.usd,
            "cost_source": result.cost.source, "warnings": [*warnings, *map(str, result.warnings)]}


def _headers(result: GenerationResult) -> dict[str, str]:
    return {"X-Imagegen-Cost-Usd": cost_header(result.cost.usd), "X-Imagegen-Request-Id": result.request_id,
            "X-Imagegen-Provider": f"{result.provider}:{result.model}"}


async def _stream(request: Request, svc: Service, req: GenerationRequest, chain: Chain, params: GenerateParams,
                  user: str | None, warnings: list[str]) -> Response:
    """``stream=true``: server-sent events in OpenAI's image-generation format, ending with one
    ``image_generation.completed`` event per image (an ``error`` event if generation fails)."""
    admission = svc.admitted("openai", user)
    job: Job = await admission.__aenter__()  # a full queue is still a plain 429, before the stream opens
    kind = "image_edit" if "image" in params.model_fields_set else "image_generation"

    async def events() -> AsyncIterator[bytes]:
        previews: asyncio.Queue[PartialImage] = asyncio.Queue()

        async def produce() -> GenerationResult:
            # read to the end (and close) in this task: the service's stream holds a context variable
            result: GenerationResult | None = None
            async with contextlib.aclosing(svc.stream(job, req.prompt, params, chain, req.partial_images or 0)) \
                    as stream:
                async for event in stream:
                    if isinstance(event, PartialImage):
                        previews.put_nowait(event)
                    elif isinstance(event, GenerationResult):
                        result = event
            if result is None:  # Client.astream always ends with one
                raise ImageGenError("the stream ended without a result")
            return result

        task = asyncio.ensure_future(produce())
        try:
            while not task.done() or not previews.empty():
                getter = asyncio.ensure_future(previews.get())
                done, _ = await asyncio.wait({task, getter}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield _sse(f"{kind}.partial_image", _partial_event(kind, getter.result(), req))
                    continue
                getter.cancel()
                if not done:
                    yield b": generating\n\n"  # keeps proxies from closing an idle stream
            try:
                result = task.result()
            except ImageGenError as exc:
                error = http_error(exc)
                yield _sse("error", openai_body(error))
                return
            share = per_image_cost(result)
            for image in result.images:
                encoded, mime = encode_image(image, req.output_format, req.output_compression)
                svc.keep(image, encoded, mime, result, cost_usd=share)
                yield _sse(f"{kind}.completed", {
                    "type": f"{kind}.completed", "b64_json": base64.b64encode(encoded).decode("ascii"),
                    "created_at": int(time.time()), "size": f"{image.width}x{image.height}",
                    "quality": req.quality or "auto", "background": req.background or "auto",
                    "output_format": mime.split("/")[1], **_usage_entry(result),
                    "imagegen": _extension(result, chain, warnings)})
        finally:
            if not task.done():  # the client went away: a local provider stops at its next step
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ImageGenError):
                    await task
            await admission.__aexit__(None, None, None)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _partial_event(kind: str, preview: PartialImage, req: GenerationRequest) -> dict[str, Any]:
    """OpenAI's ``image_generation.partial_image`` event (openai SDK ``types/image_gen_partial_image_event.py``),
    with the image index imagegen adds so a client asking for ``n`` > 1 can tell previews apart."""
    encoded, mime = encode_image(GeneratedImage(data=preview.image.data, mime=preview.image.mime,
                                                width=preview.image.width, height=preview.image.height),
                                 req.output_format, req.output_compression)
    return {"type": f"{kind}.partial_image", "b64_json": base64.b64encode(encoded).decode("ascii"),
            "created_at": int(time.time()), "size": f"{preview.image.width}x{preview.image.height}",
            "quality": req.quality or "auto", "background": req.background or "auto",
            "output_format": mime.split("/")[1], "partial_image_index": preview.partial_index,
            "imagegen": {"image_index": preview.index, "step": preview.step, "total": preview.total,
                         "provider": preview.provider}}


def _usage_entry(result: GenerationResult) -> dict[str, Any]:
    usage = _usage(result)
    return {"usage": usage} if usage is not None else {}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
