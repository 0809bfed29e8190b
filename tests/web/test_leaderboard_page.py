"""The leaderboard fragment as the server renders it: CV mean ± sd, where the figures come from, the one row with
the simplest-within-1-SE badge, the data the accuracy-latency chart reads; the form's holdout select."""
from __future__ import annotations

import re

import web_seed as seed
from fastapi.testclient import TestClient

from automl.db.models import Experiment, TrainedModel


def _set(db, exp_id: int, model_ids: list[int], *, evaluation: dict) -> None:
    """Three models: an ensemble best at 0.90 ± 0.02 over 4 folds (SE 0.01), a cheap single within it, a cheaper
    one beyond it."""
    figures = [(0.90, 0.02, 3.0, True), (0.895, 0.01, 0.5, False), (0.80, 0.01, 0.1, False)]
    with db.session() as s:
        s.get(Experiment, exp_id).summary = evaluation
        for rank, (mid, (cv, sd, ms, ens)) in enumerate(zip(model_ids, figures, strict=True), start=1):
            m = s.get(TrainedModel, mid)
            m.rank, m.cv_score, m.cv_std, m.predict_ms_per_row, m.is_ensemble = rank, cv, sd, ms, ens
            m.cv_fold_scores = [cv - sd, cv, cv + sd, cv]


def test_the_fragment_shows_the_spread_the_source_of_the_figures_and_one_simplest_badge(
    client: TestClient,
) -> None:
    db = client.app.state.db
    exp, models = seed.experiment(db, seed.dataset(db), n_models=3)
    _set(db, exp, models, evaluation={"holdout": "none", "evaluation": "out_of_fold"})
    html = client.get(f"/experiments/{exp}/live").text
    assert html.count('data-testid="simplest-badge"') == 1
    row = re.search(r'<tr[^>]*data-model-id="(\d+)"[^>]*>(?:(?!</tr>).)*simplest-badge', html, re.S)
    assert row and int(row.group(1)) == models[1]  # within 1 SE of the ensemble, and cheapest of those
    assert re.search(r'0\.9\s*<span[^>]*>± 0\.02</span>', html)
    assert "figures out-of-fold (no holdout)" in html and "Out-of-fold roc_auc" in html
    assert 'data-testid="pareto-chart"' in html and 'data-direction="maximize"' in html
    assert f'data-model-id="{models[2]}"' in html and 'data-ms="0.1"' in html and 'data-cv="0.8"' in html

    _set(db, exp, models, evaluation={"holdout": 0.2, "evaluation": "holdout"})
    html = client.get(f"/experiments/{exp}/live").text
    assert "holdout: 20 % of the rows" in html and "Holdout roc_auc" in html and "out-of-fold" not in html


def test_the_form_offers_the_holdout_choices(client: TestClient) -> None:
    db = client.app.state.db
    html = client.get(f"/datasets/{seed.dataset(db)}").text
    select = re.search(r'<select[^>]*data-testid="holdout-select".*?</select>', html, re.S)
    assert select
    assert re.findall(r'value="([^"]+)"', select.group(0)) == ["auto", "0.1", "0.2", "0.3", "none"]


def test_the_model_page_names_where_its_metrics_come_from(client: TestClient) -> None:
    db = client.app.state.db
    exp, models = seed.experiment(db, seed.dataset(db), n_models=3)
    _set(db, exp, models, evaluation={"holdout": "none", "evaluation": "out_of_fold"})
    heading = re.compile(r'data-testid="metrics-heading">(.*?)</h2>', re.S)
    found = heading.search(client.get(f"/models/{models[0]}").text)
    assert found and "Out-of-fold metrics" in found.group(1) and "Holdout" not in found.group(1)
    _set(db, exp, models, evaluation={"holdout": 0.2, "evaluation": "holdout"})
    found = heading.search(client.get(f"/models/{models[0]}").text)
    assert found and found.group(1).strip() == "Holdout metrics"
