"""A user's own data: a CSV or Parquet file beside the specification, pinned by SHA-256.

The pin makes a changed file a visible decision: training and the gate refuse a file
whose digest is not the one the specification records, and say both digests.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from mlship.model.errors import BadConfigError
from mlship.model.spec import FileData


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(data: FileData, content: bytes) -> pd.DataFrame:
    # Parsed from the very bytes that were hashed: the file cannot change in between.
    if data.loader == "csv":
        return pd.read_csv(io.BytesIO(content))
    return pd.read_parquet(io.BytesIO(content))  # pyarrow, which MLflow already needs


def load_file(data: FileData, spec_path: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Features (the spec's columns, float64), class indices and the file's SHA-256."""
    where = f"model specification {spec_path}"
    path = Path(spec_path).parent / data.path
    try:
        content = path.read_bytes()
    except OSError as error:
        problem = f"data.path {path}: cannot read it ({error.strerror})"
        raise BadConfigError(f"{where}: {problem}") from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != data.sha256:
        raise BadConfigError(
            f"{where}: data file {path} changed: its SHA-256 is {digest}, the specification "
            f"pins {data.sha256} (data.sha256); if the change is intended, update the pin"
        )
    try:
        frame = _read(data, content)
    except Exception as error:  # pandas raises many types for a malformed file
        raise BadConfigError(f"{where}: data file {path} is not {data.loader}: {error}") from None
    missing = [name for name in (*data.features, data.target) if name not in frame.columns]
    if missing:
        raise BadConfigError(
            f"{where}: data file {path} has no column {', '.join(missing)} "
            f"(it has {', '.join(map(str, frame.columns))})"
        )
    try:
        features = frame[list(data.features)].astype(np.float64)
    except (TypeError, ValueError) as error:
        raise BadConfigError(f"{where}: data.features must be numeric columns: {error}") from None
    if features.isna().to_numpy().any():
        raise BadConfigError(f"{where}: data file {path} has empty or NaN feature values")
    labels = frame[data.target].astype(str)
    unknown = sorted(set(labels) - set(data.classes))
    if unknown:
        raise BadConfigError(
            f"{where}: column {data.target!r} holds {', '.join(unknown[:5])}, "
            "which data.classes does not name"
        )
    index = {name: position for position, name in enumerate(data.classes)}
    target = labels.map(index).to_numpy(dtype=np.int64)
    return features.reset_index(drop=True), target, digest
