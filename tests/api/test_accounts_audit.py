"""The audit log: every change and every download names who, what, which object and from where; newest first;
filters by actor and action prefix, paging; admins only."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from accounts_support import World, upload, world
from serving_support import run_queued_jobs, table

EDITOR = ("203.0.113.5", 50000)


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def editor_session(w: World):
    """The editor's client, from its own address (so the log shows where each action came from)."""
    w.user("editor")
    c = w.client(address=EDITOR)
    r = c.post("/api/auth/login", json={"username": "editor", "password": "correct horse battery staple"})
    assert r.status_code == 200
    c.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
    return c


def editor_does_everything(w: World, c) -> dict[str, int]:
    ids = {"model": w.model(api=False, batch=True)}
    ids["dataset"] = upload(c).json()["id"]
    r = c.post("/api/experiments", json={"dataset_id": ids["dataset"], "target_column": "label", "time_budget_s": 10})
    ids["experiment"] = r.json()["id"]
    assert c.post(f"/api/experiments/{ids['experiment']}/cancel").status_code == 202
    assert c.post(f"/api/models/{ids['model']}/deploy", json={"api": True}).status_code == 200
    assert c.get(f"/api/models/{ids['model']}/download").status_code == 200
    csv = table(10).drop(columns=["label", "amount"]).to_csv(index=False).encode()
    ids["batch"] = c.post(f"/api/v1/predict/{ids['model']}/batch", files={"file": ("b.csv", csv)}).json()["id"]
    run_queued_jobs(w.settings)
    assert c.get(f"/api/batch-predictions/{ids['batch']}/download").status_code == 200
    assert c.delete(f"/api/batch-predictions/{ids['batch']}").status_code == 204
    assert c.post(f"/api/models/{ids['model']}/undeploy", json={"api": True}).status_code == 200
    ids["token"] = c.post("/api/tokens", json={"name": "ci", "scopes": ["read"]}).json()["id"]
    assert c.delete(f"/api/tokens/{ids['token']}").status_code == 204
    assert c.delete(f"/api/datasets/{ids['dataset']}").status_code == 204
    assert c.post("/api/auth/logout").status_code == 204
    return ids


def test_the_editors_actions_are_logged_newest_first(w):
    ids = editor_does_everything(w, editor_session(w))
    m, b = ids["model"], ids["batch"]
    expected = [
        ("auth.logout", "user editor"),
        ("dataset.delete", f"dataset {ids['dataset']} 'synth.csv'"),
        ("token.revoke", f"token {ids['token']}"),
        ("token.create", f"token {ids['token']} 'ci' [read]"),
        ("model.undeploy", f"model {m} (api)"),
        ("batch.delete", f"batch {b} of model {m}"),
        ("batch.download", f"batch {b} of model {m}"),
        ("batch.submit", f"batch {b} of model {m} 'b.csv'"),
        ("model.download", f"model {m}"),
        ("model.deploy", f"model {m} (api)"),
        ("experiment.cancel", f"experiment {ids['experiment']}"),
        ("experiment.start", f"experiment {ids['experiment']} 'label on synth.csv'"),
        ("dataset.upload", f"dataset {ids['dataset']} 'synth.csv'"),
        ("auth.login", "user editor"),
    ]
    entries = w.audit(actor="editor")
    assert [(e["action"], e["object"]) for e in entries] == expected
    assert {e["client"] for e in entries} == {EDITOR[0]} and {e["actor"] for e in entries} == {"editor"}
    times = [e["time"] for e in entries]
    assert times == sorted(times, reverse=True)


def test_user_changes_and_sign_ins_are_logged(w):
    admin = w.login("admin")
    carol = admin.post("/api/users", json={"username": "carol", "password": "p" * 12, "role": "editor"}).json()
    admin.patch(f"/api/users/{carol['id']}", json={"role": "viewer", "password": "q" * 12})
    admin.patch(f"/api/users/{carol['id']}", json={"disabled": True})
    w.client().post("/api/auth/login", json={"username": "carol", "password": "q" * 12})
    entries = [(e["actor"], e["action"], e["object"]) for e in w.audit()]
    assert entries[:4] == [
        ("carol", "auth.login_failed", "user carol"),  # disabled: refused like a wrong password
        ("admin", "user.update", "user carol: disabled=True"),
        ("admin", "user.update", "user carol: role=viewer, password"),
        ("admin", "user.create", "user carol (editor)"),
    ]
    assert entries[-1] == ("admin", "auth.login", "user admin")


def test_filters_and_paging(w):
    editor_does_everything(w, editor_session(w))
    w.login("admin")
    everything = w.audit()
    assert {e["actor"] for e in everything} == {"editor", "admin"}
    models = w.audit(action="model.")
    assert [e["action"] for e in models] == ["model.undeploy", "model.download", "model.deploy"]
    assert [e["action"] for e in w.audit(action="model.deploy")] == ["model.deploy"]
    assert w.audit(action="%") == [] and w.audit(action="model_") == []  # a prefix, not a pattern
    assert [e["action"] for e in w.audit(actor="ADMIN")] == ["auth.login"]
    assert w.audit(actor="nobody") == []
    assert w.audit(limit=3) == everything[:3]
    assert w.audit(limit=3, offset=2) == everything[2:5]
    assert w.audit(actor="editor", action="batch.", limit=1, offset=1)[0]["action"] == "batch.download"
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"action": "x" * 33}):
        assert w.login("admin").get("/api/audit", params=bad).status_code == 422, bad


def test_only_admins_read_it(w):
    assert w.login("viewer").get("/api/audit").status_code == 403
    assert w.login("editor").get("/api/audit").status_code == 403
    assert w.bearer(w.mint("editor", ["write"])["token"]).get("/api/audit").status_code == 403
    assert w.bearer(w.mint("admin", ["read"])["token"]).get("/api/audit").status_code == 403  # a scope, not a role
    assert w.bearer(w.mint("admin", ["admin"])["token"]).get("/api/audit").status_code == 200
