"""automl: a self-hosted AutoML platform for tabular data."""

__version__ = "0.1.0"
