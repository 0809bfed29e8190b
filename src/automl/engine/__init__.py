"""The ML library: no web or database imports, usable on its own."""

from automl.engine.artifacts import artifact_hmac, load_model, save_model, signing_key
from automl.engine.automl import AutoML
from automl.engine.errors import ArtifactIntegrityError, EngineError
from automl.engine.large import fit_large
from automl.engine.largeprep import is_large, memory_estimate, worker_memory_limit
from automl.engine.model import FittedModel
from automl.engine.results import FitResult, ModelResult
from automl.engine.task import METRICS, PROBLEM_TYPES, detect_problem_type, leaderboard_key

__all__ = [
    "AutoML", "FitResult", "ModelResult", "FittedModel", "EngineError", "detect_problem_type", "PROBLEM_TYPES",
    "METRICS", "leaderboard_key", "save_model", "load_model", "ArtifactIntegrityError",
    "artifact_hmac", "signing_key", "fit_large", "is_large", "memory_estimate", "worker_memory_limit",
]
