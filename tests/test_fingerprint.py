"""Near-duplicate fingerprints stay comparable with those already stored."""

from __future__ import annotations

from common.fingerprint import BANDS, fingerprint, similarity

# The buckets newsmill stored for this text when MinHash came from datasketch 2.0 ("affine32",
# seed 1, CRC-32 of the shingles). A fingerprint that drifts from them would no longer find
# the near-duplicates of articles already in a database.
TEXT = " ".join(f"w{(i * 7919) % 1009}" for i in range(400))
STORED_BUCKETS = (
    3925967010059757102, 5453021138159306580, -1436130019032093468, 4815113143328505256,
    -4157616409270418022, 1168415360751741107, 782644046088873249, 7945800361026561162,
    7214919620973675058, 3228819964385394085, 7923102846151649591, -9070711085695107352,
    -4513893105539820172, -2073078038114020194, 8611063647412461453, -887528862276144280,
    -3422225948353715942, -7634599326374579175, 1624116239243488136, -8940749386802198667,
    -7123415652923837748, 8702822176706852244, -3281706633957510351, 8346183319369283678,
    8426125165601151259, 152744847380579975, 2178825706212308594, 2488059216097322896,
    2506297100312495464, 8995657426964735774, 6752587658949298623, -3964009931038639454,
)


def test_buckets_match_those_stored_by_earlier_versions() -> None:
    assert fingerprint(TEXT).buckets == STORED_BUCKETS


def test_a_lightly_edited_text_shares_buckets_and_a_different_one_does_not() -> None:
    words = TEXT.split()
    edited = " ".join([*words[:200], "inserted", "sentence", "here", *words[200:]])
    other = " ".join(f"v{(i * 104729) % 2003}" for i in range(400))
    original, near, far = fingerprint(TEXT), fingerprint(edited), fingerprint(other)
    assert len(original.buckets) == BANDS
    assert similarity(original.shingle_hashes, near.shingle_hashes) > 0.9
    assert set(original.buckets) & set(near.buckets)
    assert not set(original.buckets) & set(far.buckets)
