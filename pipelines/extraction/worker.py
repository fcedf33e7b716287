"""What an extraction worker process runs: one page's bytes in, its article out.

Everything CPU-bound about a page happens here, off the reactor: decoding, extraction,
the content hash and the near-duplicate fingerprint. The module imports neither Scrapy nor
the database, so that a worker loads only what extraction needs.
"""

from __future__ import annotations

from common.contenthash import content_hash
from common.decoding import BinaryBody, decode_html
from common.fingerprint import fingerprint
from pipelines.extraction.article import extract_article
from pipelines.extraction.extracted import PageResult


def process_page(body: bytes, content_type: str | None, url: str) -> PageResult:
    try:
        html = decode_html(body, content_type)
    except BinaryBody as exc:
        return PageResult(skipped=str(exc))
    extracted = extract_article(html, url)
    if not extracted.text:
        return PageResult(extracted)
    return PageResult(extracted, content_hash(extracted.text), fingerprint(extracted.text))


# Long enough to be fingerprinted, so that one run through process_page sets up what
# extraction loads lazily: the MinHash permutations, trafilatura's tables. It states its
# language: the language model (0.4 s to load) is left to the first page that states none,
# which news pages seldom are.
_WARM_UP_PAGE = (
    "<html lang=\"en\"><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    + "".join(
        f"<p>Paragraph {n} of a page that exists to set up the extraction libraries once, before "
        "the first real page arrives, so that no page waits for them.</p>"
        for n in range(6)
    )
    + "</article></body></html>"
).encode()
# Too short for trafilatura's fast mode to be trusted: it goes through the full cascade, whose
# jusText stop-word lists (all languages, a quarter of a second) each worker would otherwise
# load at its first such page.
_SHORT_WARM_UP_PAGE = (
    b'<html lang="en"><head><title>Brief</title></head><body><div><p>A brief item of two'
    b" sentences. It is all there is.</p></div></body></html>"
)


def warm_up() -> None:
    for page in (_WARM_UP_PAGE, _SHORT_WARM_UP_PAGE):
        process_page(page, "text/html; charset=utf-8", "http://localhost/warm-up")
