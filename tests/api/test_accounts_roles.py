"""What each role may do (viewer reads and predicts; editor also changes; admin also manages users, everyone's
tokens and the audit log), that the permission is checked before the object is looked up, and that editors
change only what they created while admins change anything."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from accounts_support import World, predict, upload, world
from serving_support import rows, run_queued_jobs, table

from automl.db.models import TrainedModel

ROLES = ("viewer", "editor", "admin")


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def experiment(client, dataset_id: int):
    return client.post("/api/experiments", json={"name": "e", "dataset_id": dataset_id, "target_column": "label",
                                                 "time_budget_s": 10})


def by_role(w: World, call) -> dict[str, int]:
    return {role: call(w.login(role)).status_code for role in ROLES}


def test_me_names_the_role_and_its_permissions(w):
    expected = {"viewer": ["metrics", "predict", "read"], "editor": ["metrics", "predict", "read", "write"],
                "admin": ["admin", "metrics", "predict", "read", "write"]}
    for role in ROLES:
        me = w.login(role).get("/api/auth/me").json()
        assert me == {"username": role, "role": role, "permissions": expected[role]}


def test_upload_and_experiments(w):
    assert by_role(w, upload) == {"viewer": 403, "editor": 201, "admin": 201}
    # the permission comes before the lookup: a viewer learns nothing about dataset 999
    assert by_role(w, lambda c: experiment(c, 999)) == {"viewer": 403, "editor": 404, "admin": 404}
    ds = upload(w.login("editor")).json()["id"]
    assert by_role(w, lambda c: experiment(c, ds)) == {"viewer": 403, "editor": 202, "admin": 202}
    assert by_role(w, lambda c: c.get("/api/experiments")) == {"viewer": 200, "editor": 200, "admin": 200}
    assert by_role(w, lambda c: c.get(f"/api/datasets/{ds}/preview")) == {"viewer": 200, "editor": 200, "admin": 200}


def test_deploy_undeploy_and_download(w):
    mid = w.model(api=False)
    assert by_role(w, lambda c: c.post(f"/api/models/{mid}/deploy", json={"api": True})) == \
        {"viewer": 403, "editor": 200, "admin": 200}
    assert by_role(w, lambda c: c.post(f"/api/models/{mid}/undeploy", json={"api": True})) == \
        {"viewer": 403, "editor": 200, "admin": 200}
    assert w.login("viewer").post("/api/models/999/deploy", json={"api": True}).status_code == 403
    assert w.login("editor").post("/api/models/999/deploy", json={"api": True}).status_code == 404
    assert by_role(w, lambda c: c.get(f"/api/models/{mid}/download")) == {"viewer": 403, "editor": 200, "admin": 200}
    r = w.login("editor").get(f"/api/models/{mid}/download")
    assert r.headers["content-type"] == "application/zip" and r.content[:2] == b"PK"
    assert by_role(w, lambda c: c.get(f"/api/models/{mid}/card")) == {"viewer": 200, "editor": 200, "admin": 200}


def test_every_role_predicts_with_its_session(w):
    mid = w.model(api=True)
    assert by_role(w, lambda c: c.post(f"/api/v1/predict/{mid}", json={"data": rows(2)})) == \
        {"viewer": 200, "editor": 200, "admin": 200}
    out = w.login("viewer").post(f"/api/v1/predict/{mid}", json={"data": rows(2), "return_probabilities": True})
    assert len(out.json()["predictions"]) == 2 and "probabilities" in out.json()
    # the session's CSRF token is needed for predict too (it is a POST)
    assert predict(w.login("viewer", csrf=False), mid) == 403


def test_batch_scoring_roles_and_ownership(w):
    mid = w.model(api=False, batch=True)
    csv = table(20, seed=3).drop(columns=["label", "amount"]).to_csv(index=False).encode()
    files = {"file": ("score.csv", csv)}
    assert w.login("viewer").post(f"/api/v1/predict/{mid}/batch", files=files).status_code == 403
    r = w.login("editor").post(f"/api/v1/predict/{mid}/batch", files=files)
    assert r.status_code == 202, r.text
    batch = r.json()["id"]
    run_queued_jobs(w.settings)
    other = w.login("other", "editor")
    assert w.login("viewer").get(f"/api/batch-predictions/{batch}").json()["status"] == "completed"
    assert w.login("viewer").get(f"/api/batch-predictions/{batch}/download").status_code == 403
    assert w.login("viewer").get("/api/batch-predictions/999/download").status_code == 403  # before the lookup
    assert other.get(f"/api/batch-predictions/{batch}/download").status_code == 200  # any editor downloads
    assert w.login("viewer").delete(f"/api/batch-predictions/{batch}").status_code == 403
    assert other.delete(f"/api/batch-predictions/{batch}").status_code == 403  # but only its creator deletes
    assert w.login("editor").delete(f"/api/batch-predictions/{batch}").status_code == 204
    assert w.login("editor").delete("/api/batch-predictions/999").status_code == 404


def test_editors_delete_only_their_own_datasets_admins_any(w):
    editor, other, admin = w.login("editor"), w.login("other", "editor"), w.login("admin")
    mine, theirs = upload(editor).json()["id"], upload(editor).json()["id"]
    assert w.login("viewer").delete(f"/api/datasets/{mine}").status_code == 403
    assert w.login("viewer").delete("/api/datasets/999").status_code == 403  # before the lookup
    r = other.delete(f"/api/datasets/{mine}")
    assert r.status_code == 403 and "creator" in r.json()["detail"]
    assert editor.delete(f"/api/datasets/{mine}").status_code == 204
    assert admin.delete(f"/api/datasets/{theirs}").status_code == 204
    assert editor.get(f"/api/datasets/{theirs}").status_code == 404
    # a dataset made while accounts were off (no creator) is the admins' to delete
    with w.app.state.db.session() as s:
        ds_id = s.get(TrainedModel, w.model()).experiment.dataset_id
    assert editor.delete(f"/api/datasets/{ds_id}").status_code == 403
    assert admin.delete(f"/api/datasets/{ds_id}").status_code == 204


def test_editors_cancel_only_their_own_experiments_admins_any(w):
    editor, other, admin = w.login("editor"), w.login("other", "editor"), w.login("admin")
    ds = upload(editor).json()["id"]
    first, second = experiment(editor, ds).json()["id"], experiment(editor, ds).json()["id"]
    assert w.login("viewer").post(f"/api/experiments/{first}/cancel").status_code == 403
    r = other.post(f"/api/experiments/{first}/cancel")
    assert r.status_code == 403, r.text
    assert editor.get(f"/api/experiments/{first}").json()["status"] == "queued"
    assert editor.post(f"/api/experiments/{first}/cancel").status_code == 202
    assert admin.post(f"/api/experiments/{second}/cancel").status_code == 202
    assert editor.get(f"/api/experiments/{second}").json()["status"] == "cancelled"


def test_only_admins_read_the_audit_log_and_manage_users(w):
    w.user("viewer")
    vid = w.ids["viewer"]
    assert by_role(w, lambda c: c.get("/api/audit")) == {"viewer": 403, "editor": 403, "admin": 200}
    assert by_role(w, lambda c: c.get("/api/users")) == {"viewer": 403, "editor": 403, "admin": 200}
    for role in ("viewer", "editor"):
        c = w.login(role)
        assert c.post("/api/users", json={"username": f"x{role}", "password": "p" * 10, "role": "admin"}).status_code \
            == 403
        assert c.patch(f"/api/users/{vid}", json={"role": "admin"}).status_code == 403
        assert c.patch("/api/users/999", json={"role": "admin"}).status_code == 403  # before the lookup
    assert w.login("viewer").get("/api/auth/me").json()["role"] == "viewer"  # nothing changed
    assert w.login("viewer").get("/admin").status_code == 403
    assert w.login("admin").get("/admin").status_code == 200


def test_admins_create_change_and_keep_an_admin(w):
    admin = w.login("admin")
    r = admin.post("/api/users", json={"username": "Carol", "password": "carol password", "role": "editor"})
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["username"] == "carol" and carol["role"] == "editor" and carol["disabled"] is False
    assert admin.post("/api/users", json={"username": "carol", "password": "x" * 10, "role": "viewer"}).status_code \
        == 409
    assert admin.post("/api/users", json={"username": "dave", "password": "x" * 10, "role": "root"}).status_code == 422
    assert admin.post("/api/users", json={"username": "dave", "password": "short", "role": "viewer"}).status_code \
        == 422
    assert admin.post("/api/users", json={"username": "bad name", "password": "x" * 10, "role": "viewer"}) \
        .status_code == 400
    c = w.client()
    signed = c.post("/api/auth/login", json={"username": "CAROL", "password": "carol password"})
    assert signed.status_code == 200 and signed.json() == {"username": "carol", "role": "editor"}
    c.headers["X-CSRF-Token"] = signed.headers["x-csrf-token"]
    assert c.get("/api/auth/me").json()["role"] == "editor"
    assert admin.patch(f"/api/users/{carol['id']}", json={"role": "viewer"}).json()["role"] == "viewer"
    assert c.get("/api/auth/me").json()["role"] == "viewer"  # the running session sees the new role at once
    assert upload(c).status_code == 403
    assert admin.patch("/api/users/999", json={"role": "viewer"}).status_code == 404
    listed = admin.get("/api/users").json()
    assert listed["total"] == 2 and {u["username"] for u in listed["items"]} == {"admin", "carol"}
    assert "password_hash" not in str(listed) and "argon2" not in str(listed)
    # the last active admin can be neither demoted nor disabled
    me = w.ids["admin"]
    assert admin.patch(f"/api/users/{me}", json={"role": "editor"}).status_code == 409
    assert admin.patch(f"/api/users/{me}", json={"disabled": True}).status_code == 409
    assert admin.get("/api/auth/me").json()["role"] == "admin"


def test_metrics_needs_the_metrics_permission(w):
    assert by_role(w, lambda c: c.get("/metrics")) == {"viewer": 200, "editor": 200, "admin": 200}
