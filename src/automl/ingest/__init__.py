"""Reading uploaded files into Arrow, keeping them as Parquet, profiling them. No HTTP: files come as paths.

Reusable pieces: `read_table(path, filename)` (CSV/TSV/TXT, XLSX/XLS, Parquet -> pyarrow Table, BadInput on
anything unreadable), `column_kinds(table_or_frame)` (each column's kind, as the dataset profile infers it:
what the engine should be given) and `automl.ingest.pipeline.ingest_upload` (read while the file is still
arriving).
"""
from automl.ingest.convert import read_table
from automl.ingest.detect import SUFFIXES
from automl.ingest.profile import column_kinds

__all__ = ["SUFFIXES", "column_kinds", "read_table"]
