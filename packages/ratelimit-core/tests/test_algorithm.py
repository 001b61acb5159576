from __future__ import annotations

import pytest

from ratelimit_core import Algorithm


def test_members_and_values() -> None:
    assert [a.value for a in Algorithm] == [
        "fixed_window",
        "sliding_window_log",
        "sliding_window_counter",
        "token_bucket",
    ]


@pytest.mark.parametrize("name", ["gcra", "GCRA", "token_bucket", "token-bucket", "Token Bucket"])
def test_gcra_and_spellings_name_the_token_bucket(name: str) -> None:
    assert Algorithm(name) is Algorithm.TOKEN_BUCKET
    assert Algorithm.GCRA is Algorithm.TOKEN_BUCKET  # type: ignore[comparison-overlap]  # an alias


def test_is_a_str() -> None:
    assert Algorithm.FIXED_WINDOW == "fixed_window"  # type: ignore[comparison-overlap]  # a StrEnum
    assert f"{Algorithm.SLIDING_WINDOW_LOG}" == "sliding_window_log"


@pytest.mark.parametrize("bad", ["leaky", "", 3, None])
def test_unknown_name_is_a_value_error_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match="unknown algorithm") as info:
        Algorithm(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
