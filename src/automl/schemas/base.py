"""What every request body shares: ids in the range both databases store, no NaN or Infinity in numbers.

Ids are INTEGER columns, 32-bit on PostgreSQL (SQLite's are 64-bit, but this server never makes one past
2^31 - 1): an id outside 1..MAX_ID names nothing, so it is refused before it reaches the database driver
(where 2^63 used to be an OverflowError, and 2^31 a PostgreSQL 'integer out of range'; both a 500).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class RequestBody(BaseModel):
    """The base of request models: a non-finite float is a 422 (JSON has no NaN; Python's reader takes it)."""

    model_config = ConfigDict(allow_inf_nan=False)
