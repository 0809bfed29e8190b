"""Trained models: read, list, deploy/undeploy (artifact sha256 and HMAC checked), load for serving, sign."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from types import EllipsisType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from automl.config import get_settings
from automl.db.base import utcnow
from automl.db.models import Experiment, TrainedModel
from automl.errors import Conflict, NotFound, Unprocessable
from automl.services import audit
from automl.services.permissions import Principal
from automl.serving.cache import LoadedModel, ModelCache
from automl.serving.predict import predict_rows
from automl.serving.schema import InputValidator
from automl.storage import ObjectCorrupt, Storage

log = logging.getLogger(__name__)
ARTIFACT = ".joblib"  # artifacts/<artifact_key>.joblib in the store


def get_model(session: Session, model_id: int) -> TrainedModel:
    row = session.get(TrainedModel, model_id)
    if row is None:
        raise NotFound(f"model {model_id} not found")
    return row


def model_public(session: Session, model: TrainedModel, *, pending_predictions: int = 0) -> dict[str, Any]:
    exp: Experiment = model.experiment
    return {
        "id": model.id, "experiment_id": model.experiment_id, "experiment_name": exp.name,
        "dataset_id": exp.dataset_id, "target_column": exp.target_column, "problem_type": exp.problem_type,
        "metric": exp.metric, "algorithm": model.algorithm, "candidate_key": model.candidate_key,
        "params": model.params, "is_ensemble": model.is_ensemble, "rank": model.rank,
        "cv_score": model.cv_score, "cv_std": model.cv_std, "metrics": model.metrics, "fit_seconds": model.fit_seconds,
        "predict_ms_per_row": model.predict_ms_per_row, "feature_importance": model.feature_importance,
        "plots": model.plots, "input_schema": model.input_schema, "classes": model.classes,
        "deployed_api": model.deployed_api, "deployed_batch": model.deployed_batch, "deployed_at": model.deployed_at,
        "threshold": model.threshold,
        "n_predictions": model.n_predictions + pending_predictions, "artifact_sha256": model.artifact_sha256,
        "artifact_size": model.artifact_size, "created_at": model.created_at,
    }


def list_models(
    session: Session, *, deployed: bool | None = None, experiment_id: int | None = None, limit: int = 100,
    offset: int = 0,
) -> tuple[list[TrainedModel], int]:
    query = select(TrainedModel)
    if deployed is not None:
        either = TrainedModel.deployed_api | TrainedModel.deployed_batch
        query = query.where(either if deployed else ~either)
    if experiment_id is not None:
        query = query.where(TrainedModel.experiment_id == experiment_id)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.order_by(TrainedModel.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def artifact_file(storage: Storage, model: TrainedModel) -> Path:
    """A local copy of the model's artifact whose sha256 matches the recorded one; Conflict otherwise (the HMAC
    is the caller's to check, before anything is unpickled)."""
    try:
        return storage.local_copy("artifacts", model.artifact_key, model.artifact_sha256, suffix=ARTIFACT)
    except FileNotFoundError:
        raise Conflict(f"model {model.id}: the artifact file is missing") from None
    except ObjectCorrupt:
        log.error("model %s: the stored artifact does not match its sha256", model.id)
        raise Conflict(f"model {model.id}: the artifact's sha256 does not match the recorded one; not used") from None


def server_key(storage: Storage) -> bytes:
    """The key that signs artifacts: AUTOML_SECRET_KEY, else `secret.key` in the data dir (made once)."""
    from automl.engine.artifacts import signing_key

    secret = get_settings().secret_key
    return signing_key(storage.root, secret.get_secret_value() if secret else None)


def sign(storage: Storage, model: TrainedModel, sha256: str) -> str:
    """The HMAC recorded with a model row for an artifact whose sha256 is `sha256`."""
    from automl.engine.artifacts import artifact_hmac

    return artifact_hmac(server_key(storage), sha256, model.artifact_key)


def verify_artifact(storage: Storage, model: TrainedModel) -> Path:
    """A local copy of the artifact once its sha256 and HMAC match the recorded ones; Conflict otherwise."""
    from automl.engine.artifacts import check_signature
    from automl.engine.errors import ArtifactIntegrityError

    path = artifact_file(storage, model)
    try:
        check_signature(server_key(storage), model.artifact_sha256, model.artifact_hmac, context=model.artifact_key)
    except ArtifactIntegrityError as exc:
        raise Conflict(f"model {model.id}: {_unsigned(exc, model)}") from None
    return path


def _unsigned(exc: Exception, model: TrainedModel) -> str:
    reason = str(exc).lstrip(": ")
    if model.artifact_hmac is None:
        return f"{reason} (trained before artifacts were signed: `automl model sign {model.id}` signs it)"
    return reason


def load_for_serving(storage: Storage, model: TrainedModel) -> LoadedModel:
    """Unpickle the artifact (after its sha256 and HMAC checks) and prepare its input validator."""
    from automl.engine.artifacts import load_model
    from automl.engine.errors import ArtifactIntegrityError

    path = artifact_file(storage, model)
    try:
        fitted = load_model(path, model.artifact_sha256, key=server_key(storage), signature=model.artifact_hmac,
                            context=model.artifact_key)
    except FileNotFoundError:
        raise Conflict(f"model {model.id}: the artifact file is missing") from None
    except ArtifactIntegrityError as exc:
        raise Conflict(f"model {model.id}: {_unsigned(exc, model)}") from None
    schema = model.input_schema or getattr(fitted, "input_schema", None) or []
    classes = getattr(fitted, "classes_", None)
    return LoadedModel(
        model_id=model.id, model=fitted, validator=InputValidator(schema), problem_type=fitted.problem_type,
        size_bytes=max(model.artifact_size, path.stat().st_size) * 4,  # unpickled and decompressed
        sha256=model.artifact_sha256, class_names=None if classes is None else [str(c) for c in classes],
        threshold=model.threshold,
    )


def sign_unsigned(session: Session, storage: Storage, model_ids: list[int] | None) -> list[tuple[int, str]]:
    """Sign the artifacts of models trained before signing (those named, or all unsigned ones) whose file still
    matches the recorded sha256; (model id, outcome) for each. The caller commits."""
    query = select(TrainedModel).order_by(TrainedModel.id)
    query = query.where(TrainedModel.id.in_(model_ids)) if model_ids else query.where(
        TrainedModel.artifact_hmac.is_(None))
    outcomes = []
    for model in session.scalars(query):
        if model.artifact_hmac is not None:
            outcomes.append((model.id, "already signed"))
            continue
        try:
            storage.local_copy("artifacts", model.artifact_key, model.artifact_sha256, suffix=ARTIFACT)
        except FileNotFoundError:
            outcomes.append((model.id, "artifact file missing: not signed"))
        except ObjectCorrupt:
            outcomes.append((model.id, "sha256 does not match the recorded one: not signed"))
        else:
            model.artifact_hmac = sign(storage, model, model.artifact_sha256)
            outcomes.append((model.id, "signed"))
    return outcomes


def warm(loaded: LoadedModel) -> None:
    """One throwaway prediction so the first real request does not pay for lazy initialisation."""
    try:
        row = {c.name: None for c in loaded.validator.columns}
        predict_rows(loaded, loaded.validator.frame([row]), probabilities=loaded.is_classifier)
    except Exception:  # noqa: BLE001 - a model that cannot predict all-null input still serves real rows
        log.warning("warm-up prediction failed", extra={"model_id": loaded.model_id}, exc_info=True)


def deploy(
    session: Session, storage: Storage, cache: ModelCache | None, model_id: int, *, api: bool | None,
    batch: bool | None, by: Principal, threshold: float | None | EllipsisType = ...,
) -> TrainedModel:
    """Turn on the requested targets (both when neither is named); the artifact is checked first.

    `threshold` (binary models) is saved with the deployment: a number in (0, 1), None for the model's own
    rule (the threshold the engine chose out of fold, else the most probable class), `...` to keep it; it is set
    before the model is loaded, so the cache entry carries it."""
    model = get_model(session, model_id)
    retuned = threshold is not ...
    if retuned:
        _set_threshold(session, model, threshold, by=by)  # type: ignore[arg-type]
    if api is None and batch is None:
        api = batch = True
    loaded = None
    if api:
        loaded = load_for_serving(storage, model)
        warm(loaded)
    elif batch:
        verify_artifact(storage, model)
    if api:
        model.deployed_api = True
    if batch:
        model.deployed_batch = True
    if api or batch:
        model.deployed_at, model.deployed_by_id = utcnow(), by.user_id
    if api or batch or not retuned:
        audit.record(session, by, "model.deploy", f"model {model_id} ({_targets(api, batch)})")
    session.commit()  # before the cache changes, so a concurrent cache miss reads the new flags
    if loaded is not None and cache is not None:
        cache.put(loaded)
    elif retuned and cache is not None and (entry := cache.get(model_id)) is not None:
        cache.swap(entry, replace(entry, threshold=model.threshold))
    return model


def _set_threshold(session: Session, model: TrainedModel, threshold: float | None, *, by: Principal) -> None:
    """Record a new decision threshold (audited); Unprocessable for a model that is not a binary classifier."""
    if threshold is not None and model.experiment.problem_type != "binary":
        raise Unprocessable(f"a decision threshold applies to binary classifiers only; model {model.id} is "
                            f"{model.experiment.problem_type}")
    if threshold is not None and not 0 < threshold < 1:
        raise Unprocessable("the threshold must be between 0 and 1 (exclusive)")
    model.threshold = threshold
    shown = "the model's own rule" if threshold is None else f"P({_positive(model)}) >= {threshold:g}"
    audit.record(session, by, "model.threshold", f"model {model.id}: {shown}")


def _positive(model: TrainedModel) -> str:
    return str(model.classes[1]) if model.classes and len(model.classes) == 2 else "positive"


def undeploy(
    session: Session, cache: ModelCache | None, model_id: int, *, api: bool | None, batch: bool | None,
    by: Principal,
) -> TrainedModel:
    """Turn off the requested targets (both when neither is named); the API target leaves the cache."""
    model = get_model(session, model_id)
    if api is None and batch is None:
        api = batch = True
    if api:
        model.deployed_api = False
    if batch:
        model.deployed_batch = False
    if not (model.deployed_api or model.deployed_batch):
        model.deployed_at = model.deployed_by_id = None
    audit.record(session, by, "model.undeploy", f"model {model_id} ({_targets(api, batch)})")
    session.commit()  # before the cache drops it, so a concurrent cache miss cannot load it back
    if api and cache is not None:
        cache.drop(model_id)
    return model


def _targets(api: bool | None, batch: bool | None) -> str:
    return " and ".join(t for t, on in (("api", api), ("batch", batch)) if on) or "nothing"
