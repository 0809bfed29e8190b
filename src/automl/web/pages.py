"""The server-rendered pages and the HTML fragments their live parts poll. Pages read; the JSON API writes.

`router` holds the pages that need a reader (the authentication middleware has already sent anonymous
visitors to /login); `open_router` holds what a visitor without a session must reach: /login, /setup (the
first admin's one-time link) and /favicon.ico. /admin is in `router` and answers others with a 403 page.
"""
from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from automl.api.deps import PrincipalDep, SessionDep, SettingsDep, StorageDep, allow
from automl.db.models import Dataset, Experiment, TrainedModel
from automl.errors import Conflict, NotFound, Unprocessable
from automl.ingest.jsonable import jsonable
from automl.services import audit_leakage
from automl.services.permissions import Kind, Permission, Role
from automl.web import queries, views
from automl.web.templating import auth_enabled, principal_of, templates

router = APIRouter(include_in_schema=False, dependencies=[allow(Permission.READ)])
open_router = APIRouter(include_in_schema=False)  # no permission: reachable without a session

PLOTLY_JS = resources.files("plotly") / "package_data" / "plotly.min.js"
FAVICON = resources.files("automl.web") / "static" / "favicon.svg"


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def not_found(request: Request, what: str, ident: int) -> HTMLResponse:
    return render(request, "404.html", status_code=404, what=what, ident=ident)


def forbidden(request: Request, detail: str) -> HTMLResponse:
    return render(request, "403.html", status_code=403, detail=detail)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site (one leading "/", no host, no backslash), else "/"."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    return target


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    return render(
        request,
        "home.html",
        datasets=queries.recent_datasets(session),
        experiments=queries.recent_experiments(session),
        deployed=queries.deployed_models(session),
        max_upload_mb=request.app.state.settings.max_upload_mb,
    )


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: int, session: SessionDep) -> HTMLResponse:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return not_found(request, "dataset", dataset_id)
    return render(
        request,
        "dataset.html",
        dataset=dataset,
        columns=jsonable(views.columns(dataset)),
        warnings=views.warnings(dataset),
        form=views.experiment_form(dataset),
        experiments=queries.recent_experiments(session, dataset_id=dataset_id),
    )


@router.get("/datasets/{dataset_id}/audit", response_class=HTMLResponse)
def dataset_audit(request: Request, dataset_id: int, session: SessionDep, storage: StorageDep,
                  target_column: str = Query("", max_length=1000)) -> HTMLResponse:
    """The leakage audit for the form's picked target (fetched by htmx when the target changes)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return HTMLResponse("", status_code=404)
    if not target_column:
        return render(request, "partials/audit_findings.html", error="Pick a target column to audit.")
    try:
        result = audit_leakage.audit_dataset(storage, dataset, target_column)
    except (Unprocessable, Conflict, NotFound) as exc:  # shown in place: htmx swaps a 200 only
        return render(request, "partials/audit_findings.html", error=str(exc))
    return render(request, "partials/audit_findings.html", audit=result)


def _experiment_context(session: Session, experiment: Experiment) -> dict[str, Any]:
    models = queries.leaderboard(session, experiment)
    return {"experiment": experiment, "models": models, "rows": queries.leaderboard_rows(experiment, models),
            "direction": queries.metric_direction(experiment.metric)}


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment_page(request: Request, experiment_id: int, session: SessionDep) -> HTMLResponse:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        return not_found(request, "experiment", experiment_id)
    return render(request, "experiment.html", initial=True, **_experiment_context(session, experiment))


@router.get("/experiments/{experiment_id}/live", response_class=HTMLResponse)
def experiment_live(request: Request, experiment_id: int, session: SessionDep) -> HTMLResponse:
    """Status, progress and leaderboard; the fragment keeps polling itself while the experiment runs."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        return HTMLResponse("", status_code=404)
    return render(request, "partials/experiment_live.html", **_experiment_context(session, experiment))


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: int, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    model = session.get(TrainedModel, model_id)
    if model is None:
        return not_found(request, "model", model_id)
    dataset = session.get(Dataset, model.experiment.dataset_id)
    example = views.example_row(model, dataset)
    keys_required = queries.keys_required(settings) or auth_enabled(request)  # scripts need a token then
    return render(
        request,
        "model.html",
        model=model,
        model_id=model.id,
        plot_data=views.plot_data(model),
        experiment=model.experiment,
        dataset=dataset,
        rank=model.rank,
        fields=views.form_fields(model, example, dataset),
        examples=views.code_examples(str(request.base_url), model.id, example, keys_required=keys_required),
        keys_required=keys_required,
        key_field=keys_required and principal_of(request).kind != Kind.SESSION,  # a session needs no key
        jobs=queries.batch_jobs(session, model.id),
        keys=queries.api_keys(session, principal_of(request)),
    )


@router.get("/models/{model_id}/batches", response_class=HTMLResponse)
def model_batches(request: Request, model_id: int, session: SessionDep) -> HTMLResponse:
    if session.get(TrainedModel, model_id) is None:
        return HTMLResponse("", status_code=404)
    return render(request, "partials/batches.html", model_id=model_id, jobs=queries.batch_jobs(session, model_id))


@router.get("/keys/fragment", response_class=HTMLResponse)
def keys_fragment(request: Request, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    return render(request, "partials/keys.html", keys=queries.api_keys(session, principal))


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, principal: PrincipalDep) -> HTMLResponse:
    """Users, everyone's tokens and the audit log; admin/js fills them in from the admin API."""
    if not principal.can(Permission.ADMIN):
        return forbidden(request, "The admin page is for administrators.")
    scopes = [p.value for p in Permission]
    return render(request, "admin.html", roles=[r.value for r in Role], scopes=scopes)


@open_router.get("/login", response_class=HTMLResponse, response_model=None)
def login_page(request: Request, next: str = "/") -> HTMLResponse | RedirectResponse:  # noqa: A002 (the query name)
    if not auth_enabled(request):
        return RedirectResponse("/", status_code=303)  # nothing to sign in to
    if principal_of(request).kind == Kind.SESSION:
        return RedirectResponse(safe_next(next), status_code=303)  # already signed in
    return render(request, "login.html")


@open_router.get("/setup", response_class=HTMLResponse, response_model=None)
def setup_page(request: Request) -> HTMLResponse | RedirectResponse:
    """The form behind the one-time link `automl serve` prints; the token stays in the address (setup.js)."""
    if not auth_enabled(request) or principal_of(request).kind == Kind.SESSION:
        return RedirectResponse("/", status_code=303)
    return render(request, "setup.html")


@router.get("/assets/plotly.min.js")
def plotly_js() -> Response:
    """Plotly's bundle straight from the installed `plotly` package, so it is never copied into the repo."""
    with resources.as_file(PLOTLY_JS) as path:
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@open_router.get("/favicon.ico")  # open like /static: a browser asks for it on the login page too
def favicon() -> Response:
    with resources.as_file(FAVICON) as path:
        return FileResponse(path, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
