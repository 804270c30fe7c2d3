"""Test-wide setup: 4 virtual CPU devices (so every training test runs sharded over `data`), a
persistent compilation cache (identical steps compile once per suite), quiet TensorFlow."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", str(pathlib.Path.home() / ".cache" / "facejax-test-xla"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def afhq_samples():
    path = SHARED / "data" / "afhq_samples"
    if not path.is_dir():
        pytest.skip(f"{path} not found (shared/ must sit beside the checkout)")
    return path
