"""What the server may fetch for a user: URLs they type (an external endpoint) must not reach
link-local or cloud metadata addresses, where a cloud box hands out its own credentials, unless
the owner allows it (STUDIO_FETCH_LINK_LOCAL). Model and reranker names are hub names or folders
inside the data root, never URLs or other places on the server's disk.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from pathlib import Path

import httpx

from studio.words import Said

# Metadata services outside 169.254.0.0/16: AWS over IPv6, Alibaba Cloud, Oracle Cloud.
METADATA = {ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")}
METADATA_NAMES = {"metadata.google.internal", "metadata", "instance-data"}
HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")

# Process-wide, set once at start-up from settings (studio/core/netguard.configure): the OpenAI
# clients that use it are cached and shared across requests.
_allow_link_local = False


class Refused(ValueError):
    """A fetch the studio will not make; the message says why and what the owner can change."""


def configure(allow_link_local: bool) -> None:
    global _allow_link_local
    _allow_link_local = bool(allow_link_local)


def _forbidden(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip in METADATA


def check_url(url: str) -> str:
    """The URL, if the server may fetch it; Refused otherwise."""
    parts = urllib.parse.urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(Said(f"{url!r} is not an http(s) address: write it like https://api.example.com/v1.",
                           f"{url!r} 不是 http(s) 地址：请写成 https://api.example.com/v1 这样的形式。"))
    if _allow_link_local:
        return url
    host = parts.hostname.rstrip(".").lower()
    why = Said(f"{host} is a link-local or cloud metadata address, which the studio does not fetch "
               "for users (the owner can allow it with STUDIO_FETCH_LINK_LOCAL=1).",
               f"{host} 是链路本地或云元数据地址，工作台不会替用户访问它（管理者可以设置 "
               "STUDIO_FETCH_LINK_LOCAL=1 来允许）。")
    if host in METADATA_NAMES:
        raise Refused(why)
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return url  # unresolvable: the connection fails on its own, with the client's message
    if any(_forbidden(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos):
        raise Refused(why)
    return url


class GuardedTransport(httpx.HTTPTransport):
    """Checks every request, redirects included, not only the URL the user typed."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            check_url(str(request.url))
        except Refused as e:
            raise httpx.ConnectError(str(e), request=request) from e
        return super().handle_request(request)


def check_model_name(name: str, *roots: Path) -> str:
    """A model name a user typed: builtin:..., a hub name, or a folder inside one of roots."""
    name = (name or "").strip()
    if name.startswith("builtin:") or (HUB_NAME.match(name) and ".." not in name and not Path(name).exists()):
        return name
    p = Path(name).expanduser()
    if p.is_absolute() or p.exists():
        real = p.resolve()
        if any(real.is_relative_to(Path(r).resolve()) for r in roots):
            return str(real)
        raise Refused(Said(f"{name} is outside this studio's data folders: use a hub name (owner/name) or "
                           "a model folder under the data root.",
                           f"{name} 不在工作台的数据目录内：请使用 Hub 名称（所有者/名称），或数据目录下的模型文件夹。"))
    raise Refused(Said(f"{name!r} is not a model name: use a hub name such as BAAI/bge-small-zh-v1.5.",
                       f"{name!r} 不是模型名称：请使用 Hub 名称，例如 BAAI/bge-small-zh-v1.5。"))
