from automl.db.session import Database

__all__ = ["Database"]
