"""The compiled lane (``mlship.api.lane``), built from Cython when a C compiler is present.

The extension is optional: without a compiler the package installs without it
and the service serves every request from its Python lane (same answers,
more CPU per request). ``mlship-api`` logs which lane serves /predict.
"""

import hashlib
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

SOURCE = "src/mlship/api/lane.pyx"
DIGEST = hashlib.sha256(Path(SOURCE).read_bytes()).hexdigest()

LANE = Extension(
    "mlship.api.lane",
    [SOURCE],
    # No fused multiply-add: the lane's probabilities equal the Python lane's to the bit.
    extra_compile_args=["-O2", "-ffp-contract=off"],
    # The source's digest, so a test can tell a stale build from a current one.
    define_macros=[("MLSHIP_LANE_SOURCE", f'"{DIGEST}"')],
    optional=True,
)

setup(ext_modules=cythonize([LANE], compiler_directives={"language_level": "3"}))
