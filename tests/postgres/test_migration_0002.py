"""Migration 0002 keeps a 0001 database's data: job links from the payloads, progress onto the job, stored ranks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from automl.db.migrate import alembic_config, upgrade

NOW = "2026-11-30 10:00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("pg_url")


def _fill_0001(url: str) -> None:
    """One dataset, a finished AUC experiment with three models, an RMSE one with two, a batch prediction."""
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO datasets (id, name, storage_key, source_format, size_bytes, sha256, n_rows, "
                       "n_cols, profile, created_at) VALUES (1, 'd.csv', 'k1', 'csv', 1, 's', 10, 2, :p, :t)"),
                  {"p": json.dumps({"columns": [], "warnings": []}), "t": NOW})
        for exp_id, metric in ((1, "roc_auc"), (2, "rmse")):
            c.execute(text("INSERT INTO experiments (id, name, dataset_id, target_column, feature_columns, "
                           "problem_type, metric, time_budget_s, status, progress, attempts, summary, created_at) "
                           "VALUES (:id, 'e', 1, 'y', '[]', 'binary', :m, 10, 'completed', :p, 1, '{}', :t)"),
                      {"id": exp_id, "m": metric, "t": NOW,
                       "p": json.dumps({"stage": "completed", "fraction": 1.0, "message": f"Done {exp_id}"})})
        jobs = [(1, "experiment", {"experiment_id": 1}), (2, "experiment", {"experiment_id": 2}),
                (3, "experiment", {"experiment_id": 2}), (4, "batch_prediction", {"batch_prediction_id": 1})]
        for job_id, kind, payload in jobs:
            c.execute(text("INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, cancel_requested, "
                           "progress, created_at) VALUES (:id, :k, :p, 'completed', 1, 3, false, '{}', :t)"),
                      {"id": job_id, "k": kind, "p": json.dumps(payload), "t": NOW})
        models = [(1, 1, 0.80, 2.0), (2, 1, 0.90, 5.0), (3, 1, 0.90, 1.0), (4, 2, 3.0, 1.0), (5, 2, 2.5, 9.0)]
        for model_id, exp_id, cv, ms in models:
            c.execute(text("INSERT INTO trained_models (id, experiment_id, candidate_key, algorithm, params, "
                           "is_ensemble, cv_score, metrics, fit_seconds, predict_ms_per_row, feature_importance, "
                           "plots, input_schema, artifact_key, artifact_sha256, artifact_size, deployed_api, "
                           "deployed_batch, n_predictions, created_at) VALUES (:id, :e, :key, 'a', '{}', false, "
                           ":cv, '{}', 1, :ms, '[]', '{}', '[]', :key, 's', 1, false, false, 0, :t)"),
                      {"id": model_id, "e": exp_id, "key": f"m{model_id}", "cv": cv, "ms": ms, "t": NOW})
        c.execute(text("INSERT INTO batch_predictions (id, model_id, input_name, input_key, status, created_at) "
                       "VALUES (1, 1, 'b.csv', 'in1', 'completed', :t)"), {"t": NOW})
    engine.dispose()


def test_0002_links_jobs_moves_progress_and_ranks(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "0001")
    _fill_0001(url)
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as c:
        links = dict(c.execute(text("SELECT id, job_id FROM experiments")).all())
        batch_job = c.execute(text("SELECT job_id FROM batch_predictions")).scalar_one()
        ranks = dict(c.execute(text("SELECT id, rank FROM trained_models")).all())
        progress = c.execute(text("SELECT progress FROM jobs WHERE id = 3")).scalar_one()
    engine.dispose()
    assert links == {1: 1, 2: 3} and batch_job == 4  # the newest job of each row
    assert (json.loads(progress) if isinstance(progress, str) else progress)["message"] == "Done 2"
    # AUC: higher first, the faster of a tie first; RMSE: lower first
    assert ranks == {3: 1, 2: 2, 1: 3, 5: 1, 4: 2}
