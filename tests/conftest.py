"""Shared test set-up."""

import importlib.util

import sklearn.cluster  # noqa: F401  (loads sklearn's OpenMP runtime, so that the limit below reaches it)
from threadpoolctl import threadpool_limits

# pytest-xdist already runs one worker per core: keep OpenMP/BLAS in each worker single-threaded so that
# HistGradientBoosting fits and numpy do not oversubscribe the two cores.
threadpool_limits(1)

# The Ray tests import ray at the top; `make test-oldest` installs neither Ray nor Spark (the dev extra does).
collect_ignore = [] if importlib.util.find_spec("ray") else ["test_ray.py"]
