"""Owners: a signed-in user changes only what they made, an admin anything, and with nobody
signed in (the studio on loopback) the one user changes everything."""
import pytest

from studio import models, owners
from studio.core import auth
from studio.jobs import JobStore


def test_only_the_owner_or_an_admin_may_change_a_thing(settings, monkeypatch):
    monkeypatch.delenv("SPACE_AUTHOR_NAME", raising=False)
    settings.admins = "Carol"
    assert owners.may_change(settings, None, "alice")  # open on loopback: one user
    assert owners.may_change(settings, "alice", "alice") and owners.may_change(settings, "ALICE", "alice")
    assert owners.may_change(settings, "carol", "alice")  # an admin, named case-insensitively
    assert not owners.may_change(settings, "bob", "alice")
    assert not owners.may_change(settings, "bob", None)  # what setup made is the admins'
    with pytest.raises(owners.NotAllowed, match="Only its owner or an admin can cancel lora-1: it belongs "
                                                  "to alice \\(who made it\\), and you are signed in as bob"):
        owners.check(settings, "bob", "alice", "cancel", "lora-1")


def test_admins_default_to_the_space_owner_or_the_first_password_user(settings, monkeypatch):
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "TeaHouse")
    assert owners.admins(settings) == {"teahouse"}
    monkeypatch.delenv("SPACE_AUTHOR_NAME")
    settings.users = f"dora:{auth.hash_password('x' * 12)},erin:{auth.hash_password('y' * 12)}"
    assert owners.admins(settings) == {"dora"}


def test_things_remember_their_owner(settings, tmp_path):
    store = JobStore(tmp_path / "jobs")
    store.set_owner("kb", "recipes", "alice")
    assert store.owner("kb", "recipes") == "alice" and store.owner("kb", "other") is None
    with pytest.raises(owners.NotAllowed, match="the knowledge base recipes"):
        owners.check_thing(settings, store, "kb", "recipes", "bob", "delete")
    owners.check_thing(settings, store, "kb", "recipes", "alice", "delete")
    store.forget_owner("kb", "recipes")
    assert store.owner("kb", "recipes") is None


def test_each_user_has_their_own_active_model(settings, tmp_path):
    default = models.active_model(settings)
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text((default / "config.json").read_text())
    models.set_active(settings, other, user="alice")
    assert models.active_model(settings, "alice") == other
    assert models.active_model(settings, "bob") == default and models.active_model(settings) == default
    # a broken state file gives the defaults, not a broken tab
    (settings.home / "state.json").write_text('{"active_model": ')
    assert models.active_model(settings, "alice") == default
    models.set_active(settings, other)
    assert models.active_model(settings, "bob") == other  # a new user starts on the studio's choice
    assert not list(settings.home.glob(".state.*"))  # no temporary file left behind
