"""Reading uploaded files into Arrow tables, profiling them, and the streaming upload helper.

Reusable pieces: `read_table(path, filename)` (CSV/TSV/TXT, XLSX/XLS, Parquet -> pyarrow Table, BadInput on
anything unreadable) and `automl.ingest.upload.receive_upload` (multipart body streamed to disk with a limit).
"""
from automl.ingest.detect import SUFFIXES
from automl.ingest.readers import read_table

__all__ = ["SUFFIXES", "read_table"]
