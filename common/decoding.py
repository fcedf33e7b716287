"""Bytes of a response to the text of an HTML page, when they are one.

Runs in the extraction workers, not on the reactor thread: decoding a large page costs
milliseconds that the downloads should not wait for.

Pages lie about their charset (Latin-1 bytes served as UTF-8, a server-wide header over a
page's own <meta>). A decoding that needs replacement characters is wrong, so each candidate
is tried strictly, in the order a browser trusts them (byte-order mark, HTTP header, <meta>),
then UTF-8, then detection; U+FFFD is stored only when no decoding can do without it.
"""

from __future__ import annotations

from collections.abc import Iterator

from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

_CONTROL = bytes([*range(9), *range(14, 32)])  # control bytes that text never holds
_LATIN = {"cp1252", "iso8859-1", "latin-1", "latin1", "ascii", "us-ascii", "windows-1252"}
_DETECT_BYTES = 64 * 1024  # enough for detection to be sure; it costs time in proportion


class BinaryBody(ValueError):
    """The body is empty or is not text; the message is the reason the page is skipped."""


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode as a browser would (byte-order mark, HTTP header, <meta charset>), but strictly:
    a declared charset the bytes are not valid in gives way to one they are valid in."""
    if not body.strip():
        raise BinaryBody("empty body")
    head = body[:4096]
    if b"\x00" in head or len(head) - len(head.translate(None, _CONTROL)) > len(head) // 20:
        raise BinaryBody("binary body")
    bom, mark = read_bom(body)
    if bom and mark:
        try:
            return body[len(mark) :].decode(bom)
        except UnicodeDecodeError:
            pass
    for encoding in _candidates(body, content_type):
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    # Latin-1 maps every byte to a character: the last resort never fails.
    return body.decode("latin-1")


def _candidates(body: bytes, content_type: str | None) -> Iterator[str]:
    for declared in (http_content_type_encoding(content_type), html_body_declared_encoding(body)):
        if not declared:
            continue
        if declared.lower().replace("_", "-") in _LATIN and any(b > 127 for b in body):
            # A Latin-1 label on bytes that decode as UTF-8 is almost always a wrong label:
            # real Latin-1 text with accents is practically never valid UTF-8.
            yield "utf-8"
        yield declared
    yield "utf-8"
    detected = _detect(body)
    if detected:
        yield detected
    yield "cp1252"  # the commonest mislabelled charset on the web, as browsers assume


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes

    matches = from_bytes(body[:_DETECT_BYTES])
    best = matches.best()
    if best is None:
        return None
    # Text in Latin letters decodes equally well in several single-byte charsets (cp1250,
    # cp1252, cp1257 read "café" alike); where they tie, the web's Western default wins, as in
    # browsers: the accents of the other languages are rarer than the mislabelled Western page.
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    encoding = "cp1252" if "cp1252" in tied else best.encoding
    return resolve_encoding(encoding) or encoding
