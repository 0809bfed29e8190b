"""Reading uploaded files into Arrow, keeping them as Parquet, profiling them; the streaming upload helper.

Reusable pieces: `read_table(path, filename)` (CSV/TSV/TXT, XLSX/XLS, Parquet -> pyarrow Table, BadInput on
anything unreadable) and `automl.ingest.upload.receive_upload` (multipart body streamed to disk with a limit).
"""
from automl.ingest.convert import read_table
from automl.ingest.detect import SUFFIXES

__all__ = ["SUFFIXES", "read_table"]
