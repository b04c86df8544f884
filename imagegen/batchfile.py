"""Batch files: one item a line, as JSONL or CSV, checked whole before anything runs.

JSONL (``.jsonl``, ``.ndjson``): one JSON object a line, ``{"prompt": "a fox", "seed": 1, "size": "16:9"}``
(a bare JSON string is a prompt alone); blank lines are skipped. CSV (``.csv``, or ``.tsv`` with tabs): a
header row naming the fields, then one item a row; empty cells are left out, a cell that starts with
``[`` or ``{`` is read as JSON (``loras``, ``provider_options``, a provider chain), and a number or
``true``/``false`` in a field that is not text is read as one. Fields: ``prompt``
(required), ``provider`` (a spec or a list of them), ``name`` (the file stem) and any ``GenerateParams``
field. Relative ``image``/``mask``/``control_image`` paths are relative to the batch file's folder.

Every bad line is reported, with its line number and field, in one ``BadItems``.
"""

from __future__ import annotations

import csv
import json
import os
import typing
from collections.abc import Iterator
from typing import Any

from .batch import BadItems, ItemFile, items_of
from .errors import InvalidRequest
from .params import GenerateParams

__all__ = ["FORMATS", "read_items"]

#: File endings and the format each is read as.
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_PATH_FIELDS = ("image", "mask", "control_image")


def read_items(path: str | os.PathLike[str]) -> ItemFile:
    """Read and check every item of a JSONL or CSV batch file (``BadItems`` lists each bad line); pass the
    result to ``imagegen.batch.run`` as it is, so errors found there name lines too."""
    where = os.fspath(path)
    kind = FORMATS.get(os.path.splitext(where)[1].lower())
    if kind is None:
        raise InvalidRequest(f"FILE: {where} must end in one of {', '.join(FORMATS)}", field="FILE")
    if not os.path.isfile(where):
        raise InvalidRequest(f"FILE: no such file: {where}", field="FILE")
    base = os.path.dirname(os.path.abspath(where))
    records: list[dict[str, Any] | str] = []
    lines: list[str] = []
    problems: list[tuple[str, InvalidRequest]] = []
    try:
        with open(where, encoding="utf-8-sig", newline="") as fh:
            rows = _jsonl(fh) if kind == "jsonl" else _csv(fh, "\t" if kind == "tsv" else ",")
            for line, record in rows:
                if isinstance(record, InvalidRequest):
                    problems.append((f"line {line}", record))
                    continue
                records.append(_relative(record, base))
                lines.append(f"line {line}")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"FILE: {where} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                             field="FILE") from None
    if not records and not problems:
        raise InvalidRequest(f"FILE: {where} has no items", field="FILE")
    try:
        items = items_of(records, source=where, where=lines)
    except BadItems as exc:
        problems += exc.problems
    if problems:
        problems.sort(key=lambda p: int(p[0].split()[-1]))
        raise BadItems(problems, source=where)
    return ItemFile(path=where, items=items, where=lines)


def _jsonl(fh: Any) -> Iterator[tuple[int, dict[str, Any] | str | InvalidRequest]]:
    for number, text in enumerate(fh, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, InvalidRequest(f"not JSON: {exc.msg} at column {exc.colno}", field="FILE")
            continue
        if not isinstance(record, (dict, str)):
            yield number, InvalidRequest(f"expected a JSON object (or a prompt string); got {type(record).__name__}",
                                         field="FILE")
            continue
        yield number, record


def _csv(fh: Any, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | str | InvalidRequest]]:
    reader = csv.reader(fh, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    if "prompt" not in names:
        yield reader.line_num, InvalidRequest(f"the header row must name a 'prompt' column; got {header!r}",
                                              field="prompt")
        return
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            yield reader.line_num, InvalidRequest(f"{len(row)} cells but the header names {len(names)} fields",
                                                  field="FILE")
            continue
        record: dict[str, Any] = {}
        bad: InvalidRequest | None = None
        for name, cell in zip(names, row, strict=False):
            if not cell.strip():
                continue
            if cell.lstrip()[:1] in ("[", "{"):
                try:
                    record[name] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    bad = InvalidRequest(f"{name}: not JSON: {exc.msg}", field=name)
                    break
            else:
                record[name] = _scalar(name, cell)
        yield reader.line_num, bad if bad is not None else record


def _scalar(name: str, cell: str) -> Any:
    """A CSV cell as its field wants it: text for a text field, else a number or true/false when it reads
    as one (``7``, ``7.5``, ``true``), else the text (``16:9``)."""
    field = GenerateParams.model_fields.get(name)
    if field is None or _is_text(field.annotation):
        return cell
    try:
        value = json.loads(cell)
    except json.JSONDecodeError:
        return cell
    return value if isinstance(value, (int, float, bool)) else cell


def _is_text(annotation: Any) -> bool:
    return annotation is str or str in typing.get_args(annotation)


def _relative(record: dict[str, Any] | str, base: str) -> dict[str, Any] | str:
    if isinstance(record, str):
        return record
    out = dict(record)
    for field in _PATH_FIELDS:
        value = out.get(field)
        if isinstance(value, str) and value and not os.path.isabs(value):
            out[field] = os.path.join(base, value)
    return out
