"""Who may change what: everyone signed in sees everything; only a thing's owner or an admin
cancels, deletes, overwrites or publishes it.

The user is the name the sign-in gate put on the request (None when the studio is open on
loopback: then there is one user, the person at the machine, and every check passes).
"""
from __future__ import annotations

import os

from studio import config
from studio.words import Said

# The actions tabs ask about, in Chinese word order around the thing ({what}).
ACTIONS_ZH = {
    "cancel": "取消{what}", "publish": "发布{what}", "stop": "停止{what}", "restart": "重启{what}",
    "delete": "删除{what}", "rename": "重命名{what}", "overwrite": "覆盖{what}",
    "restore a version of": "恢复{what}的历史版本", "change the adapters of": "更改{what}的适配器",
    "change the reranker of": "更改{what}的重排序模型", "add documents to": "向{what}添加文档",
    "delete documents from": "删除{what}中的文档",
}
LABELS = {"kb": ("the knowledge base", "知识库"), "dataset": ("the dataset", "数据集"),
          "model": ("the model", "模型")}


class NotAllowed(PermissionError):
    """A signed-in user asked to change something another user owns."""


def admins(s: config.Settings) -> set[str]:
    """STUDIO_ADMINS by name; unset: the Space's owner on a Space, else the first password user
    (the one who set the box up)."""
    named = {n.strip().lower() for n in s.admins.split(",") if n.strip()}
    if named:
        return named
    if os.environ.get("SPACE_AUTHOR_NAME"):
        return {os.environ["SPACE_AUTHOR_NAME"].lower()}
    from studio.core import auth

    first = next(iter(auth.users(s)), None)
    return {first.lower()} if first else set()


def may_change(s: config.Settings, user: str | None, owner: str | None) -> bool:
    if user is None:
        return True
    # A thing with no owner (made before sign-in was on, or by setup: the samples) is the admins'.
    return (owner is not None and owner.lower() == user.lower()) or user.lower() in admins(s)


def check(s: config.Settings, user: str | None, owner: str | None, action: str, what: str) -> None:
    """Raise NotAllowed with a message naming who may (action: "cancel", what: "run lora-…")."""
    if not may_change(s, user, owner):
        who = f"{owner} (who made it)" if owner else "the setup (it came with the studio)"
        who_zh = f"{owner}（创建者）" if owner else "初始设置（随工作台附带）"
        # A name stands apart from the Chinese around it: " lora-1 ", "知识库 recipes ".
        done = ACTIONS_ZH.get(action, action + "{what}").format(what=getattr(what, "zh", f" {what} ")).strip()
        raise NotAllowed(Said(f"Only its owner or an admin can {action} {what}: it belongs to {who}, "
                              f"and you are signed in as {user}.",
                              f"只有所有者或管理员才能{done}：它属于 {who_zh}，而你当前登录的是 {user}。"))


def check_job(s: config.Settings, job, user: str | None, action: str) -> None:
    check(s, user, job.owner, action, job.name)


def check_thing(s: config.Settings, store, kind: str, name: str, user: str | None, action: str) -> None:
    """kind: dataset, kb (a knowledge base) or model; the owner the store recorded for it."""
    en, cn = LABELS.get(kind, (kind, kind))
    check(s, user, store.owner(kind, name), action, Said(f"{en} {name}", f"{cn} {name} "))
