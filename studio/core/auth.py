"""Who may use the studio: password users (STUDIO_USERS or a users file under the data root) and,
on a Hugging Face Space with `hf_oauth: true`, Hugging Face accounts limited to named users and
organisations. On loopback nobody signs in; anywhere else the studio will not start open unless
STUDIO_AUTH=none says so on purpose.

    python -m studio.core.auth add NAME      add a user (or change a password); asks for it twice
    python -m studio.core.auth remove NAME   remove a user; their sessions end at their next request
    python -m studio.core.auth list          the users in the users file and in STUDIO_USERS
    python -m studio.core.auth hash NAME     print NAME:HASH for STUDIO_USERS (nothing is written)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path

from studio import config

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# scrypt at 2**14 costs ~40 ms and 16 MB per check: cheap for a sign-in, dear for a guesser.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
# Failed sign-ins allowed per name and address in the window before the next ones are refused.
MAX_FAILURES, FAILURE_WINDOW_S = 5, 300


class AuthError(ValueError):
    """A problem the owner can act on; the message says what and how."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        unb64 = lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))  # noqa: E731
        if kind != "scrypt" or len(unb64(digest)) != 32:  # a cut digest would match its own prefix
            return False
        got = hashlib.scrypt(password.encode(), salt=unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32)
        return hmac.compare_digest(got, unb64(digest))
    except (ValueError, TypeError):
        return False


def users_file(s: config.Settings) -> Path:
    return s.home / "users.json"


def _env_users(s: config.Settings) -> dict[str, str]:
    """STUDIO_USERS: NAME:HASH entries separated by commas, spaces or new lines."""
    found = {}
    for entry in re.split(r"[,\s]+", s.users.strip()):
        if entry:
            name, _, digest = entry.partition(":")
            if not NAME.match(name) or not digest.startswith("scrypt$"):
                raise AuthError(f"STUDIO_USERS holds an entry that is not NAME:HASH ({name[:20]!r}); "
                                "make one with: python -m studio.core.auth hash NAME")
            found[name] = digest
    return found


def _file_users(s: config.Settings) -> dict[str, str]:
    f = users_file(s)
    if not f.exists():
        return {}
    try:
        return {k: v["hash"] for k, v in json.loads(f.read_text()).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise AuthError(f"{f} is not a users file the studio wrote ({e}); fix or remove it.") from e


def users(s: config.Settings) -> dict[str, str]:
    """Every password user, name -> hash; the users file wins over STUDIO_USERS for a name in both."""
    return {**_env_users(s), **_file_users(s)}


def _write_users(s: config.Settings, entries: dict) -> None:
    f = users_file(s)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".users.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # hashes, but still private
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out, indent=1)
    os.replace(tmp, f)


def add_user(s: config.Settings, name: str, password: str) -> None:
    if not NAME.match(name or ""):
        raise AuthError("A user name is 1-64 letters, digits, dots, dashes, underscores or @.")
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    f = users_file(s)
    entries = json.loads(f.read_text()) if f.exists() else {}
    entries[name] = {"hash": hash_password(password), "added": int(time.time())}
    _write_users(s, entries)


def remove_user(s: config.Settings, name: str) -> None:
    f = users_file(s)
    entries = json.loads(f.read_text()) if f.exists() else {}
    if name not in entries:
        hint = " (it comes from STUDIO_USERS: remove it there)" if name in _env_users(s) else ""
        raise AuthError(f"No user named {name} in {f}{hint}.")
    del entries[name]
    _write_users(s, entries)


def oauth_enabled() -> bool:
    """A Space with `hf_oauth: true` gets these variables from Hugging Face at run time."""
    return bool(os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))


def hf_allowed(s: config.Settings) -> set[str]:
    """Hugging Face users and organisations allowed in; by default only the Space's owner."""
    named = {n.strip().lower() for n in re.split(r"[,\s]+", s.hf_allow) if n.strip()}
    return named or {os.environ.get("SPACE_AUTHOR_NAME", "").lower()} - {""}


def hf_user_allowed(s: config.Settings, username: str | None, orgs: list[str]) -> bool:
    allowed = hf_allowed(s)
    return bool(username) and (username.lower() in allowed or any(o.lower() in allowed for o in orgs))


def mode(s: config.Settings) -> str:
    """'open' (nobody signs in), 'signin', or 'refuse' (not loopback and no way to sign in)."""
    if s.auth.strip().lower() == "none":
        return "open"
    has_credentials = bool(users(s)) or oauth_enabled()
    if has_credentials:
        return "signin"
    return "open" if is_loopback(s.host) else "refuse"


def hub_token(s: config.Settings, purpose: str, given: str | None) -> str | None:
    """The token for a hub call: the user's own, else the server's where the owner allowed it."""
    if given:
        return given
    allowed = {p.strip() for p in server_token_uses(s).split(",")}
    return (s.hf_token or None) if purpose in allowed else None


def server_token_uses(s: config.Settings) -> str:
    # Alone on a laptop the owner is the user; once others sign in, only reads by default.
    if s.hf_token_use.strip():
        return "" if s.hf_token_use.strip() == "none" else s.hf_token_use
    return "download" if mode(s) == "signin" else "download,publish"


class Throttle:
    """Refuses a name and address after MAX_FAILURES wrong passwords within the window."""

    def __init__(self):
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str, address: str) -> bool:
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get((name, address), []) if now - t < FAILURE_WINDOW_S]
            self._failures[(name, address)] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.setdefault((name, address), []).append(time.time())


def check(s: config.Settings, name: str, password: str) -> bool:
    stored = users(s).get(name)
    if stored is None:
        verify_password(hash_password("x"), password)  # same time for a wrong name as a wrong password
        return False
    return verify_password(stored, password)


def _main(argv: list[str]) -> int:
    import argparse
    import getpass

    ap = argparse.ArgumentParser(prog="python -m studio.core.auth", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["add", "remove", "list", "hash"])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a = ap.parse_args(argv)
    s = config.load()
    try:
        if a.action == "list":
            for name in sorted(_file_users(s)):
                print(f"{name}\t{users_file(s)}")
            for name in sorted(_env_users(s)):
                print(f"{name}\tSTUDIO_USERS")
            return 0
        if not a.name:
            raise AuthError(f"Name the user: python -m studio.core.auth {a.action} NAME")
        if a.action == "remove":
            remove_user(s, a.name)
            print(f"removed {a.name} from {users_file(s)}")
            return 0
        if a.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {a.name}: ")
            if getpass.getpass("again: ") != password:
                raise AuthError("The two passwords differ; nothing was changed.")
        if a.action == "hash":
            if not NAME.match(a.name) or len(password) < MIN_PASSWORD:
                raise AuthError(f"A valid name and a password of at least {MIN_PASSWORD} characters, please.")
            print(f"{a.name}:{hash_password(password)}")
            return 0
        add_user(s, a.name, password)
        print(f"{a.name} can sign in now ({users_file(s)})")
        return 0
    except (AuthError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
