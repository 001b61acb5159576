"""Hypothesis profiles for every test run from this folder: ``dev`` (the default) and ``ci``.

``HYPOTHESIS_PROFILE=ci`` (``.ci/run`` sets it) runs each property test's full
number of examples; ``dev`` a fifth of them, for a quick loop. A test that
needs more or fewer than the profile's default writes it as a multiple:
``settings(max_examples=4 * settings().max_examples)``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
