"""Reading uploaded files into Arrow, keeping them as Parquet, profiling them. No HTTP: files come as paths.

Reusable pieces: `read_table(path, filename)` (CSV/TSV/TXT, XLSX/XLS, Parquet -> pyarrow Table, BadInput on
anything unreadable) and `automl.ingest.pipeline.ingest_upload` (read while the file is still arriving).
"""
from automl.ingest.convert import read_table
from automl.ingest.detect import SUFFIXES

__all__ = ["SUFFIXES", "read_table"]
