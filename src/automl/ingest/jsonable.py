"""The one converter to plain JSON values (profiles, previews, engine results, predictions).

No NaN/inf (they become null), numpy scalars and arrays as Python values, dates as ISO strings, bytes as text.
"""
from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def _array(values: np.ndarray) -> list[Any]:
    """tolist() is the fast path (numbers and booleans, no NaN); anything else is converted value by value."""
    kind = values.dtype.kind
    if kind in "biu" or (kind == "f" and bool(np.isfinite(values).all())):
        return values.tolist()  # type: ignore[no-any-return]
    return [jsonable(v) for v in values.tolist()]
