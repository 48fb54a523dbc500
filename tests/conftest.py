"""Shared test set-up: hypothesis profiles (no deadlines: CI machines are noisy; derandomized on CI)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng():
    return np.random.default_rng(0)

# tests/pytorch_scripts holds PyTorch tutorials run as scripts by test_pytorch_scripts.py, never imported
collect_ignore = ["pytorch_scripts"]
