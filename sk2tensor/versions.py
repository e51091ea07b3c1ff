"""The versions of the libraries sk2tensor supports, and checks of the one installed.

sk2tensor reproduces sklearn's arithmetic down to the order of its sums and its tie rules, and those change
between releases: a converter whose output depends on the installed sklearn asks :func:`sklearn_before`.
The oldest releases here are the ones ``pyproject.toml`` requires and ``make test-oldest`` tests against.
"""

from __future__ import annotations

import re

import sklearn

#: The oldest scikit-learn whose estimators every converter reproduces (``make test-oldest``; a test checks that
#: ``constraints/oldest.txt`` and ``pyproject.toml`` say the same).
OLDEST_SKLEARN = (1, 8)
#: The oldest onnxruntime that runs every export (older ones lack kernels some graphs use).
OLDEST_ONNXRUNTIME = (1, 30)


def release(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``"1.9.1"`` or ``"1.10.dev0"``."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise ValueError(f"not a version number: {version!r}")
    return int(found.group(1)), int(found.group(2))


SKLEARN = release(sklearn.__version__)


def sklearn_before(major: int, minor: int) -> bool:
    """Whether the installed scikit-learn is older than ``major.minor``."""
    return (major, minor) > SKLEARN
