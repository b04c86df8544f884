"""Testing with imagegen, for your tests and for provider packages' own.

- ``FakeProvider`` (and ``FakeClock``, ``fake_color``): a real provider with scripted images, latencies
  and failures, for testing code that uses imagegen;
- ``ScriptedServer``: a real HTTP server on 127.0.0.1 that records requests and replays scripted answers
  (replies, raw bytes, resets, hangs), for testing a provider through its real SDK;
- ``LiveServer``: ``imagegen serve``'s app on 127.0.0.1 in a thread (needs the ``server`` extra), for
  testing apps and clients against it;
- ``ProviderContract`` and ``HTTPProviderContract``: the provider contract suite, which a provider
  package runs against itself with a few lines of configuration (see ``docs/providers.md``);
- ``normalize``: plan a request for some capabilities the way a ``Client`` does;
- ``registered_provider`` and ``fresh_default_client``: register a provider, or start the default
  client afresh, for one test;
- ``holding(obj, canary)``: every path from an object (an error, a result) to text holding a canary key.

Nothing here imports pytest: the contract suite's tests are plain methods pytest collects.
"""

from ..normalize import Plan, normalize
from ._contract import HTTPProviderContract, ProviderContract
from ._fake import FakeClock, FakeProvider, fake_color
from ._helpers import fresh_default_client, holding, registered_provider
from ._live import LiveServer
from ._server import (
    Answer,
    Delayed,
    Hang,
    Headers,
    Raw,
    RecordedRequest,
    Reply,
    Reset,
    ScriptedServer,
    Upload,
    unused_port,
)

__all__ = [
    "Answer",
    "Delayed",
    "FakeClock",
    "FakeProvider",
    "HTTPProviderContract",
    "Hang",
    "Headers",
    "LiveServer",
    "Plan",
    "ProviderContract",
    "Raw",
    "RecordedRequest",
    "Reply",
    "Reset",
    "ScriptedServer",
    "Upload",
    "fake_color",
    "fresh_default_client",
    "holding",
    "normalize",
    "registered_provider",
    "unused_port",
]
