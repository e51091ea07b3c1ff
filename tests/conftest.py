"""Shared test set-up."""

from threadpoolctl import threadpool_limits

# pytest-xdist already runs one worker per core: keep OpenMP/BLAS in each worker single-threaded so that
# HistGradientBoosting fits and numpy do not oversubscribe the two cores.
threadpool_limits(1)
