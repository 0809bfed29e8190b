"""Importing this module registers every job kind's handler (and status hook).

PRELOAD names the heavy modules the handlers import lazily: a worker's forkserver imports them once, so each
job's child process starts in milliseconds while the API process (which needs only the status hooks) stays light.
"""
import automl.services.batch_runner  # noqa: F401
import automl.services.experiment_runner  # noqa: F401

PRELOAD = ("automl.engine",)
