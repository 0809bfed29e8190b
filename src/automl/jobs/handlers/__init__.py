"""The built-in job kinds: importing this package registers each one's handler and status hook.

PRELOAD names the heavy modules the handlers import lazily: a worker's forkserver imports them once, so each
job's child process starts in milliseconds while the API process (which needs only the status hooks) stays light.
"""
from automl.jobs.handlers import batch_prediction, experiment

__all__ = ["batch_prediction", "experiment", "PRELOAD"]

PRELOAD = ("automl.engine",)
