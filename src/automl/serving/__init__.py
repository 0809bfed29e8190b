"""Serving: input-schema validation, the model cache, predict and batch scoring; no database and no HTTP."""
