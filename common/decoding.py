"""Bytes of a response to the text of an HTML page, when they are one.

Runs in the extraction workers, not on the reactor thread: decoding a large page costs
milliseconds that the downloads should not wait for.
"""

from __future__ import annotations

from w3lib.encoding import html_to_unicode

_CONTROL = bytes([*range(9), *range(14, 32)])  # control bytes that text never holds
_LATIN = {"cp1252", "iso8859-1", "latin-1", "latin1", "ascii", "us-ascii", "windows-1252"}


class BinaryBody(ValueError):
    """The body is empty or is not text; the message is the reason the page is skipped."""


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode as a browser would (HTTP header, then <meta charset>, then detection)."""
    if not body.strip():
        raise BinaryBody("empty body")
    head = body[:4096]
    if b"\x00" in head or len(head) - len(head.translate(None, _CONTROL)) > len(head) // 20:
        raise BinaryBody("binary body")
    encoding, text = html_to_unicode(content_type, body)
    if encoding.lower().replace("_", "-") in _LATIN and any(b > 127 for b in body):
        # A Latin-1 label on bytes that decode as UTF-8 is almost always a wrong label:
        # real Latin-1 text with accents is practically never valid UTF-8.
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return text
