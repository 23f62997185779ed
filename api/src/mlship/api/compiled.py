"""The compiled lane's classes, when mlship-api was built with it (see ``lane.pyx``).

``AVAILABLE`` is False when the package was installed without a C compiler:
the Python lane then serves every request, with the same answers and more CPU
time per request.
"""

from __future__ import annotations

try:
    from mlship.api.lane import MAX_FEATURES, PredictLane, RowKernel

    AVAILABLE = True
except ImportError:  # built without a C compiler
    AVAILABLE = False

__all__ = ["AVAILABLE", "MAX_FEATURES", "PredictLane", "RowKernel"]
