"""Tokens with scopes: what each scope reaches, a model list that binds, revocation and expiry at once, a token
never worth more than its creator is today (demoted, disabled), secrets shown once and never listed."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from accounts_support import World, predict, upload, world
from sqlalchemy import select, update

from automl.db.base import utcnow
from automl.db.models import ApiKey


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def test_a_predict_token_predicts_and_nothing_else(w):
    mid = w.model()
    tok = w.mint("editor", ["predict"])
    assert tok["token"].startswith("aml_") and tok["scopes"] == ["predict"]
    bot = w.bearer(tok["token"])
    assert predict(bot, mid) == 200
    assert w.client(headers={"X-API-Key": tok["token"]}).post(
        f"/api/v1/predict/{mid}", json={"data": [{"x0": 1}]}).status_code == 422  # X-API-Key works too
    assert bot.get("/api/datasets").status_code == 403
    assert bot.get(f"/api/models/{mid}").status_code == 403
    assert upload(bot).status_code == 403
    assert bot.post(f"/api/models/{mid}/deploy", json={"api": False}).status_code == 403
    assert bot.get("/metrics").status_code == 403
    assert bot.get("/").status_code == 403  # pages need read


def test_a_token_limited_to_models_refuses_the_others(w):
    mine, other = w.model(), w.model()
    tok = w.mint("editor", ["predict"], model_ids=[mine])
    assert tok["model_ids"] == [mine]
    bot = w.bearer(tok["token"])
    assert predict(bot, mine) == 200
    r = bot.post(f"/api/v1/predict/{other}", json={"data": [{}]})
    assert r.status_code == 403 and str(other) in r.json()["detail"]


def test_read_write_metrics_and_admin_scopes(w):
    mid = w.model()
    reader = w.bearer(w.mint("editor", ["read"])["token"])
    assert reader.get("/api/datasets").json()["total"] == 1
    assert upload(reader).status_code == 403
    assert predict(reader, mid) == 403  # read does not include predict
    writer = w.bearer(w.mint("editor", ["write"])["token"])
    assert upload(writer).status_code == 201  # no CSRF token needed with a bearer token
    assert writer.get("/api/datasets").json()["total"] == 2  # write includes read
    assert writer.get("/api/audit").status_code == 403
    scraper = w.bearer(w.mint("viewer", ["metrics"])["token"])
    assert scraper.get("/metrics").status_code == 200
    assert scraper.get("/api/datasets").status_code == 403
    root = w.bearer(w.mint("admin", ["admin"])["token"])
    assert root.get("/api/audit").status_code == 200 and root.get("/api/users").status_code == 200
    assert predict(root, mid) == 200  # admin is everything


def test_a_token_never_exceeds_its_creators_role(w):
    viewer, editor = w.login("viewer"), w.login("editor")
    for client, scopes, code in ((viewer, ["write"], 403), (viewer, ["admin"], 403), (viewer, ["read", "write"], 403),
                                 (viewer, ["read", "predict", "metrics"], 201), (editor, ["admin"], 403),
                                 (editor, ["write", "predict"], 201), (w.login("admin"), ["admin"], 201)):
        r = client.post("/api/tokens", json={"name": "t", "scopes": scopes})
        assert r.status_code == code, (scopes, r.text)
    assert editor.post("/api/tokens", json={"name": "t", "scopes": []}).status_code == 422
    assert editor.post("/api/tokens", json={"name": "t", "scopes": ["root"]}).status_code == 422
    assert editor.post("/api/tokens", json={"name": "t", "scopes": ["read"], "expires_in_days": 0}).status_code == 422


def test_a_token_cannot_mint_a_wider_one(w):
    """An admin token manages tokens, but a model-limited one must not buy itself an unlimited one."""
    mine, other = w.model(), w.model()
    bot = w.bearer(w.mint("admin", ["admin"], model_ids=[mine])["token"])
    assert bot.post("/api/tokens", json={"name": "unlimited", "scopes": ["predict"]}).status_code == 403
    assert bot.post("/api/tokens", json={"name": "u", "scopes": ["predict"], "model_ids": [other]}).status_code == 403
    assert bot.post("/api/keys", json={"name": "unlimited"}).status_code == 403
    narrower = bot.post("/api/tokens", json={"name": "same", "scopes": ["predict"], "model_ids": [mine]})
    assert narrower.status_code == 201, narrower.text
    assert predict(w.bearer(narrower.json()["token"]), mine) == 200
    assert predict(w.bearer(narrower.json()["token"]), other) == 403


def test_only_people_and_admin_tokens_manage_tokens(w):
    """A leaked predict or write token can neither list its siblings nor mint itself a replacement."""
    for scopes in (["predict"], ["write"], ["read", "predict", "metrics"]):
        bot = w.bearer(w.mint("editor", scopes)["token"])
        assert bot.get("/api/tokens").status_code == 403
        assert bot.post("/api/tokens", json={"name": "again", "scopes": ["predict"]}).status_code == 403
        assert bot.post("/api/keys", json={"name": "again"}).status_code == 403
        assert bot.get("/api/keys").status_code == 403
        assert bot.delete("/api/tokens/1").status_code == 403
    assert w.bearer(w.mint("admin", ["admin"])["token"]).get("/api/tokens").status_code == 200


def test_revoked_and_expired_tokens_are_401(w):
    mid = w.model()
    editor = w.login("editor")
    tok = w.mint("editor", ["predict"], expires_in_days=1)
    bot = w.bearer(tok["token"])
    assert predict(bot, mid) == 200
    with w.app.state.db.session() as s:
        s.execute(update(ApiKey).where(ApiKey.id == tok["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    w.app.state.serving.keys.forget(tok["id"])  # as after the 1 s cache, which only ever holds valid grants
    r = bot.post(f"/api/v1/predict/{mid}", json={"data": [{}]})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    other = w.mint("editor", ["predict"])
    assert predict(w.bearer(other["token"]), mid) == 200
    assert editor.delete(f"/api/tokens/{other['id']}").status_code == 204  # no waiting for the cache
    assert predict(w.bearer(other["token"]), mid) == 401
    assert editor.delete(f"/api/tokens/{other['id']}").status_code == 204  # revoking twice is harmless
    listed = {t["id"]: t for t in editor.get("/api/tokens").json()["items"]}
    assert listed[other["id"]]["revoked_at"] is not None and listed[tok["id"]]["expires_at"] is not None


def test_a_disabled_users_tokens_stop_at_once(w):
    mid = w.model()
    w.login("admin")
    bot = w.bearer(w.mint("editor", ["predict"])["token"])
    assert predict(bot, mid) == 200
    r = w.login("admin").patch(f"/api/users/{w.ids['editor']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert predict(bot, mid) == 401
    w.login("admin").patch(f"/api/users/{w.ids['editor']}", json={"disabled": False})
    assert predict(bot, mid) == 200  # re-enabled: the token was never revoked


def test_a_demoted_users_write_token_loses_write(w):
    writer = w.bearer(w.mint("editor", ["write"])["token"])
    assert upload(writer).status_code == 201
    assert w.login("admin").patch(f"/api/users/{w.ids['editor']}", json={"role": "viewer"}).status_code == 200
    assert upload(writer).status_code == 403  # the route forgot the user's cached grants
    assert writer.get("/api/datasets").status_code == 200  # what a viewer may do, it still may
    # a change made behind the server's back (another process) shows once the short cache lapses
    w.set_user("editor", role="editor")
    w.app.state.serving.keys.forget_user(w.ids["editor"])
    assert upload(writer).status_code == 201


def test_the_token_list_never_holds_a_secret_and_shows_only_ones_own(w):
    ed, vi, ad = w.mint("editor", ["write"]), w.mint("viewer", ["read"]), w.mint("admin", ["admin"])
    legacy = w.login("viewer").post("/api/keys", json={"name": "old"}).json()
    secrets = [ed["token"], vi["token"], ad["token"], legacy["key"]]
    lists = {name: w.login(name).get("/api/tokens") for name in ("viewer", "editor", "admin")}
    for name, r in lists.items():
        assert r.status_code == 200
        assert not any(s in r.text or s[12:] in r.text for s in secrets), name
    with w.app.state.db.session() as s:
        hashes = list(s.scalars(select(ApiKey.key_hash)))
    assert not any(h in lists["admin"].text for h in hashes)
    seen = {name: {(t["id"], t["owner"]) for t in r.json()["items"]} for name, r in lists.items()}
    assert seen["editor"] == {(ed["id"], "editor")}
    assert seen["viewer"] == {(vi["id"], "viewer"), (legacy["id"], "viewer")}
    assert seen["admin"] == seen["editor"] | seen["viewer"] | {(ad["id"], "admin")}
    assert lists["admin"].json()["total"] == 4
    item = next(t for t in lists["admin"].json()["items"] if t["id"] == ed["id"])
    assert item["prefix"] == ed["token"][:12] and item["scopes"] == ["write"]
    # others' tokens cannot be revoked (or even found) by a non-admin; an admin revokes anyone's
    assert w.login("editor").delete(f"/api/tokens/{vi['id']}").status_code == 404
    assert w.login("admin").delete(f"/api/tokens/{vi['id']}").status_code == 204


def test_the_older_keys_interface_makes_working_predict_tokens(w):
    mid = w.model()
    r = w.login("viewer").post("/api/keys", json={"name": "legacy"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert r.json()["prefix"] == key[:12]
    bot = w.bearer(key)
    assert predict(bot, mid) == 200
    assert bot.get("/api/datasets").status_code == 403
    listed = w.login("viewer").get("/api/keys").json()
    assert listed["total"] == 1 and key not in str(listed)
    assert w.login("viewer").delete(f"/api/keys/{r.json()['id']}").status_code == 204
    assert predict(bot, mid) == 401


def test_token_use_is_recorded_and_audited(w):
    mid = w.model()
    tok = w.mint("editor", ["predict"])
    predict(w.bearer(tok["token"]), mid)
    w.app.state.serving.flush()
    item = next(t for t in w.login("admin").get("/api/tokens").json()["items"] if t["id"] == tok["id"])
    assert item["last_used_at"] is not None
    created = w.audit(action="token.create")
    assert created[0]["actor"] == "editor" and f"token {tok['id']}" in created[0]["object"]
    assert tok["token"] not in str(w.audit())


def test_tokens_made_while_accounts_were_off_are_worth_a_viewer_at_most(tmp_path):
    with world(tmp_path, auth="off") as off:
        local = off.client()
        wide = local.post("/api/tokens", json={"name": "old", "scopes": ["write", "admin"]})
        assert wide.status_code == 201, wide.text
        key = local.post("/api/keys", json={"name": "older"}).json()["key"]
        mid = off.model()
    with world(tmp_path) as on:
        bot = on.bearer(wide.json()["token"])
        assert bot.get("/api/datasets").status_code == 200
        assert upload(bot).status_code == 403 and bot.get("/api/audit").status_code == 403
        assert predict(bot, mid) == 200 and predict(on.bearer(key), mid) == 200
        owners = {t["name"]: t["owner"] for t in on.login("admin").get("/api/tokens").json()["items"]}
        assert owners == {"old": None, "older": None}
        assert on.login("editor").get("/api/tokens").json()["total"] == 0  # nobody's: only admins see them
