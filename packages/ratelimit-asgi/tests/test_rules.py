"""Path patterns: the same matches as a regular expression would give, in time linear in the path."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_asgi.rules import SegmentPattern, compile_path

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples


def reference(pattern: str) -> re.Pattern[str]:
    """The patterns' meaning, written as a (backtracking) regular expression: the oracle for small inputs."""
    out = []
    for part in pattern.split("/"):
        if part == "**" or (part.startswith("{") and part.endswith(":path}")):
            out.append(".*")
            continue
        piece = re.sub(r"\{[^}]*\}", "\x00", part)
        out.append("".join({"*": "[^/]*", "?": "[^/]", "\x00": "[^/]+"}.get(c, re.escape(c)) for c in piece))
    return re.compile("/".join(out))


segment = st.one_of(
    st.just("**"),
    st.just("{rest:path}"),
    st.text(alphabet="ab*?", min_size=0, max_size=4).filter(lambda s: "**" not in s),
    st.text(alphabet="ab", min_size=1, max_size=2).map(lambda s: "{x}" + s),
)
patterns = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
paths = st.lists(st.text(alphabet="ab", max_size=4), min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=EXAMPLES * 500 // 100, deadline=None)
@given(pattern=patterns, path=paths)
def test_every_pattern_matches_as_its_regular_expression(pattern: str, path: str) -> None:
    assert bool(compile_path(pattern).fullmatch(path)) == bool(reference(pattern).fullmatch(path))


@pytest.mark.parametrize(
    "pattern", ["/**/x/**/y/**/z", "/x/*a*a*a*a*b", "/{a}-{b}-{c}/**", "/**/**/**/**/q", "/api/**/*a*b*c"]
)
def test_patterns_that_would_backtrack_are_matched_segment_by_segment(pattern: str) -> None:
    """A 2 kB path against each of these took seconds as one regular expression."""
    matcher = compile_path(pattern)
    assert isinstance(matcher, SegmentPattern)
    for path in ("/" + "a/" * 1000 + "a" * 2000, "/x/" + "a" * 8000, "/api/" + "x" * 4000 + "/" + "ab" * 2000):
        assert not matcher.fullmatch(path)


@pytest.mark.parametrize("pattern", ["/static/*", "/items/{id}", "/files/{rest:path}", "/static/**", "/*.js"])
def test_the_usual_patterns_stay_one_regular_expression(pattern: str) -> None:
    assert isinstance(compile_path(pattern), re.Pattern)


@pytest.mark.parametrize("bad", ["/a**", "/a/**b", "/x{rest:path}", "/{id", "no-slash"])
def test_wildcards_that_are_not_whole_segments_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(bad)):
        compile_path(bad)
