"""The public face of ratelimit-core, pinned: an export added or removed shows up here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from importlib.metadata import entry_points, version

import pytest

import ratelimit_core
from ratelimit_core import compat, store, sync, testing
from ratelimit_core.testing import pytest_plugin


def test_top_level_exports() -> None:
    assert sorted(ratelimit_core.__all__) == [
        "Algorithm",
        "Concurrency",
        "Decision",
        "DenyCachedStore",
        "Hold",
        "Limiter",
        "MemoryStore",
        "OnError",
        "Outcome",
        "Policy",
        "Rate",
        "RateLimitError",
        "RateLimitExceeded",
        "RateStatus",
        "Reservation",
        "SqliteStore",
        "Store",
        "StoreError",
        "__version__",
        "parse_limits",
        "parse_rates",
    ]
    for name in ratelimit_core.__all__:
        assert getattr(ratelimit_core, name) is not None


def test_compat_exports() -> None:
    assert sorted(compat.__all__) == [
        "AlgorithmType",
        "Client",
        "RateLimiterOrchestrator",
        "RateLimiterType",
        "Response",
        "Rules",
    ]


def test_store_contract_exports() -> None:
    assert sorted(store.__all__) == ["Binding", "Blocking", "Decide", "Holding", "Noting", "Preparing", "Store"]
    assert store.Store is ratelimit_core.Store


def test_observe_exports() -> None:
    from ratelimit_core import observe  # noqa: PLC0415

    assert sorted(observe.__all__) == [
        "BATCH_BUCKETS",
        "BREAKER_STATES",
        "DURATION_BUCKETS",
        "DecisionReport",
        "Guarded",
        "OUTCOMES",
        "Observer",
        "Observers",
        "OutcomeLabel",
        "RequestContext",
        "guarded",
        "outcome_of",
        "report",
        "request_context",
        "store_label",
    ]
    assert list(observe.DecisionReport.__dataclass_fields__) == [
        "policy", "outcome", "algorithm", "store", "cost", "decision", "route", "seconds", "key",
    ]  # fmt: skip
    for method in ("decision", "store_call", "breaker", "deny_cache_hit", "batch"):
        assert callable(getattr(observe.Observer, method)), method


def test_testing_exports() -> None:
    assert testing.__all__ == [
        "FailingStore",
        "LimitsOffWarning",
        "LoopTime",
        "ManualClock",
        "StoreTests",
        "SyncStoreTests",
        "limits_off",
        "reset_limits",
        "use_clock",
    ]


def test_the_pytest_plugin_is_registered_and_gives_its_fixtures() -> None:
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "ratelimit"]
    assert plugin.value == "ratelimit_core.testing.pytest_plugin"
    assert pytest_plugin.__all__ == ["ratelimit_clock", "ratelimit_off", "ratelimit_reset"]


def test_errors_share_one_base() -> None:
    assert issubclass(ratelimit_core.StoreError, ratelimit_core.RateLimitError)
    assert issubclass(ratelimit_core.RateLimitExceeded, ratelimit_core.RateLimitError)


def test_importing_pulls_in_no_third_party_module() -> None:
    code = (
        "import sys, ratelimit_core, ratelimit_core.compat, ratelimit_core.testing, ratelimit_core.observe;"
        "print(sorted(m for m in ('redis', 'starlette', 'pydantic', 'opentelemetry', 'prometheus_client')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(os.environ.get("RATELIMIT_ONLY_CORE") != "1", reason="only in the core-only environment")
@pytest.mark.parametrize("module", ["redis", "starlette", "pydantic", "ratelimit_redis", "ratelimit_asgi"])
def test_core_environment_holds_no_other_runtime(module: str) -> None:
    assert importlib.util.find_spec(module) is None


def test_version_is_the_packages_own() -> None:
    assert ratelimit_core.__version__ == version("ratelimit-core")


def test_what_stores_read_from_the_core_is_pinned() -> None:
    """A store runs the core's arithmetic elsewhere (Redis runs it in Lua): these names are its contract."""
    import dataclasses  # noqa: PLC0415

    from ratelimit_core import algorithms  # noqa: PLC0415

    assert sorted(algorithms.__all__) == [
        "AlgorithmMath",
        "FixedWindow",
        "SlidingWindowCounter",
        "SlidingWindowLog",
        "Step",
        "TokenBucket",
        "applier",
        "math_for",
    ]
    assert [f.name for f in dataclasses.fields(algorithms.TokenBucket)] == [
        "rate",
        "scale",
        "interval",
        "capacity",
        "tolerance",
    ]
    for window in (algorithms.FixedWindow, algorithms.SlidingWindowLog, algorithms.SlidingWindowCounter):
        assert [f.name for f in dataclasses.fields(window)] == ["rate", "limit", "period"]
    for math in (algorithms.TokenBucket, algorithms.FixedWindow, algorithms.SlidingWindowLog):
        for method in ("step", "charge", "refund", "expires_at", "for_rate"):
            assert callable(getattr(math, method)), f"{math.__name__}.{method}"
    policy = ratelimit_core.Policy("p", ratelimit_core.Algorithm.TOKEN_BUCKET, (ratelimit_core.Rate(3, 1),))
    for name in (
        "name", "algorithm", "rates", "cap", "limits", "maths", "namespaces", "cap_namespace", "signature",
        "single", "block_namespace", "note_namespace", "decision", "decision_of",
    ):  # fmt: skip
        assert hasattr(policy, name), name
    assert policy.namespaces == ("p:token_bucket:3/1000000",)
    assert policy.signature == policy.namespaces
    capped = ratelimit_core.Policy(
        "p", ratelimit_core.Algorithm.TOKEN_BUCKET, (ratelimit_core.Rate(3, 1),), ratelimit_core.Concurrency(2)
    )
    assert capped.cap_namespace == "p:concurrent:2"
    assert policy.block_namespace == capped.block_namespace == "p:block"
    assert policy.note_namespace == "p:note"
    assert capped.signature == ("p:token_bucket:3/1000000", "p:concurrent:2:60000000")
    assert capped.limits == (ratelimit_core.Rate(3, 1), ratelimit_core.Concurrency(2))
    assert isinstance(policy.single, algorithms.TokenBucket)
    assert ratelimit_core.Rate(3, 1).period_us == 1_000_000


def test_the_public_face_of_the_sync_colour() -> None:
    assert sorted(sync.__all__) == [
        "Algorithm",
        "Blocking",
        "Concurrency",
        "Decision",
        "Hold",
        "Holding",
        "Limiter",
        "MemoryStore",
        "Noting",
        "Rate",
        "RateLimitError",
        "RateLimitExceeded",
        "RateStatus",
        "Reservation",
        "SqliteStore",
        "Store",
        "StoreError",
    ]
    assert sync.Decision is ratelimit_core.Decision
    assert sync.RateLimitExceeded is ratelimit_core.RateLimitExceeded
