"""The bottom of newsmill's imports: pure helpers that the crawler and the pipelines both use
(URL canonicalisation, decoding, the item types, the content hash and the near-duplicate
fingerprint, the process start-up). Nothing here imports crawler/ or pipelines/."""
