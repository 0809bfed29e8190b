"""Exceptions raised by the engine."""


class EngineError(ValueError):
    """A user error detected before any training (bad target, no usable features, too few rows)."""


class ArtifactIntegrityError(RuntimeError):
    """A saved model's sha256 does not match the recorded one; it is never unpickled."""
