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
    policy = Limiter("100/minute; 7/0.5s; 5/250ms; 9/2h; 1/3d; 4/90s", name="api").policy
    assert key_bases("ratelimit", policy) == (
        "ratelimit:api:tb:100/1min:",
        "ratelimit:api:tb:7/500ms:",
        "ratelimit:api:tb:5/250ms:",
        "ratelimit:api:tb:9/2h:",
        "ratelimit:api:tb:1/3d:",
        "ratelimit:api:tb:4/90s:",
    )
    assert key_bases("rl", Limiter(Rate(3, 0.0015, burst=2)).policy) == ("rl:default:tb:3/1500us:b2:",)
    codes = {key_bases("r", Limiter("1/s", algorithm=a).policy)[0].split(":")[2] for a in Algorithm}
    assert codes == {"tb", "fw", "swl", "swc"}


@pytest.mark.parametrize("name", ["n" * 200, "with{brace", "with}brace"])
def test_long_or_braced_names_are_hashed(name: str) -> None:
    for algorithm in Algorithm:
        (base,) = key_bases("ratelimit", Limiter("1000000/day", name=name, algorithm=algorithm).policy)
        assert len((base + "{" + digest("k") + "}").encode()) <= MAX_KEY_BYTES
        assert "{" not in base
        assert "}" not in base


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_default_keys_fit_the_104_byte_class(algorithm: Algorithm) -> None:
    """A key of up to 60 bytes with an integer value costs 104 bytes in Redis 7."""
    (base,) = key_bases("ratelimit", Limiter("10000/hour", algorithm=algorithm).policy)
    assert len(base) + 18 <= 60


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("rl:tenant", "api"), ("rl", "tenant:api")),
        (("rl", "a:b"), ("rl:a", "b")),
        (("rl", "x%3Ay"), ("rl", "x:y")),
        (("rl", "~" + digest("with{brace")), ("rl", "with{brace")),
    ],
)
def test_two_prefix_and_name_pairs_never_share_a_key(one: tuple[str, str], other: tuple[str, str]) -> None:
    bases = {key_bases(prefix, Limiter("5/minute", name=name).policy) for prefix, name in (one, other)}
    assert len(bases) == 2, bases


def test_a_colon_free_name_keeps_its_key() -> None:
    assert key_bases("rl:tenant", Limiter("5/minute", name="api").policy) == ("rl:tenant:api:tb:5/1min:",)
