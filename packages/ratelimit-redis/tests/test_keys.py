from __future__ import annotations

import pytest

from ratelimit_core import Algorithm, Limiter, Rate
from ratelimit_redis.keys import MAX_KEY_BYTES, digest, key_bases

ODD = ["", "{", "}", "{a}", "*", "a:b", "ключ", "\x00", "x" * 10_000]


def test_digest_is_short_fixed_and_brace_free() -> None:
    digests = {digest(identity) for identity in ODD}
    assert len(digests) == len(ODD), "distinct identities, distinct digests"
    for d in digests:
        assert len(d) == 16
        assert "{" not in d
        assert "}" not in d
    assert digest("user") == digest(b"user")


def test_keys_name_prefix_limiter_algorithm_and_rate() -> None:
    policy = Limiter("100/minute; 7/0.5s; 5/250ms", name="api").policy
    assert key_bases("ratelimit", policy) == (
        "ratelimit:api:token_bucket:100/60s:",
        "ratelimit:api:token_bucket:7/500ms:",
        "ratelimit:api:token_bucket:5/250ms:",
    )
    assert key_bases("rl", Limiter(Rate(3, 0.0015, burst=2)).policy) == ("rl:default:token_bucket:3/1500us:b2:",)


@pytest.mark.parametrize("name", ["n" * 200, "with{brace", "with}brace"])
def test_long_or_braced_names_are_hashed(name: str) -> None:
    for algorithm in Algorithm:
        (base,) = key_bases("ratelimit", Limiter("1000000/day", name=name, algorithm=algorithm).policy)
        assert len((base + "{" + digest("k") + "}").encode()) <= MAX_KEY_BYTES
        assert "{" not in base
        assert "}" not in base


def test_default_token_bucket_key_fits_the_104_byte_class() -> None:
    """A key of up to 60 bytes with an integer value costs 104 bytes in Redis 7."""
    (base,) = key_bases("ratelimit", Limiter("100/minute").policy)
    assert len(base) + 18 <= 60
