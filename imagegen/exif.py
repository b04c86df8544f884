"""The infotext of a JPEG or WebP: an EXIF ``UserComment``, written where A1111 writes it, without re-encoding.

A1111 saves JPEG and WebP with ``piexif.helper.UserComment.dump(geninfo, encoding="unicode")`` in the Exif
IFD (``modules/images.py``, ``save_image_with_geninfo``): the 8-byte prefix ``UNICODE\\0`` and the text in
UTF-16 big-endian (piexif 1.1.3, ``helper.py``). ``with_user_comment`` builds that EXIF block with Pillow and
splices it into the file: a JPEG gets an APP1 segment after SOI (and JFIF's APP0), a WebP an ``EXIF`` chunk
in the extended (``VP8X``) layout, so the compressed image data is kept byte for byte.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["EXIF_IFD", "USER_COMMENT", "exif_block", "user_comment", "with_user_comment"]

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
_UNICODE = b"UNICODE\0"
_ASCII = b"ASCII\0\0\0"
#: The most an APP1 segment holds (its 16-bit length counts itself).
_APP1_MAX = 0xFFFF - 2


def exif_block(text: str) -> bytes:
    """An EXIF block (TIFF header and IFDs, without the ``Exif\\0\\0`` marker) holding ``text`` as UserComment."""
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = _UNICODE + text.encode("utf-16-be")
    block = exif.tobytes()
    return block[6:] if block.startswith(b"Exif\0\0") else block


def user_comment(image: PILImage.Image) -> str | None:
    """The EXIF UserComment of an open image, decoded the way piexif's ``UserComment.load`` does: from the Exif
    IFD, where the standard (and A1111) puts it, else from IFD0, where Fooocus' ``get_exif`` writes it as text."""
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
        if raw is None:
            raw = exif.get(USER_COMMENT)
    except Exception:  # a broken EXIF block is no metadata, not a failure to open the image
        return None
    if isinstance(raw, str):
        return raw or None
    if not isinstance(raw, bytes) or len(raw) <= 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE:
        # piexif writes big-endian; some Windows tools little-endian (ASCII text then has its zero byte second)
        little = len(body) >= 2 and body[0] != 0 and body[1] == 0
        return body.decode("utf-16-le" if little else "utf-16-be", "replace").rstrip("\0") or None
    return body.decode("utf-8" if prefix != _ASCII else "ascii", "replace").rstrip("\0") or None


def with_user_comment(data: bytes, mime: str, text: str) -> bytes:
    """``data`` (JPEG or WebP bytes) with its EXIF replaced by one holding ``text`` as UserComment."""
    block = exif_block(text)
    if mime == "image/jpeg":
        return _jpeg(data, block)
    if mime == "image/webp":
        return _webp(data, block)
    raise ValueError(f"EXIF UserComment: only JPEG and WebP carry one; got {mime}")


def _jpeg(data: bytes, block: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    payload = b"Exif\0\0" + block
    if len(payload) > _APP1_MAX:
        raise ValueError(f"the metadata is {len(payload)} bytes; a JPEG's EXIF segment holds at most {_APP1_MAX}")
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segments.append(data[pos:pos + 2 + length])
        pos += 2 + length
    kept = [s for s in segments if not (s[1] == 0xE1 and s[4:10] == b"Exif\0\0")]
    lead = 1 if kept and kept[0][1] == 0xE0 else 0  # JFIF's APP0 stays first
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return b"".join([b"\xff\xd8", *kept[:lead], app1, *kept[lead:], data[pos:]])


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _canvas(kind: bytes, body: bytes) -> tuple[int, int, bool]:
    """(width, height, has alpha) of a simple WebP's one image chunk."""
    if kind == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", body[6:10])
        return w & 0x3FFF, h & 0x3FFF, False
    if kind == b"VP8L" and body[:1] == b"\x2f":
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise ValueError("not a WebP image this can add EXIF to")


def _riff(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _webp(data: bytes, block: bytes) -> bytes:
    chunks = [(k, b) for k, b in _webp_chunks(data) if k != b"EXIF"]
    if chunks and chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        header[0] |= 0x08  # the EXIF flag
        chunks[0] = (b"VP8X", bytes(header))
    else:
        image = next(((k, b) for k, b in chunks if k in (b"VP8 ", b"VP8L")), None)
        if image is None:
            raise ValueError("not a WebP image this can add EXIF to")
        width, height, alpha = _canvas(*image)
        flags = 0x08 | (0x10 if alpha or any(k == b"ALPH" for k, _ in chunks) else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", vp8x))
    xmp = next((i for i, (k, _) in enumerate(chunks) if k == b"XMP "), len(chunks))
    chunks.insert(xmp, (b"EXIF", block))  # after the image data, before XMP, as the container spec orders them
    body = b"WEBP" + b"".join(_riff(k, b) for k, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
