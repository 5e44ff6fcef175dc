"""Where alerts may be sent: http(s) URLs, never the server's own networks in production (SSRF).

A budget's webhook URL is chosen by a user, and the server POSTs to it: in production a target
on loopback, private, link-local or otherwise reserved addresses is refused (unless
SPENDPILOT_WEBHOOK_ALLOW_PRIVATE is set), both when the budget is saved and again before every
delivery, since a name may resolve elsewhere later. In development everything is allowed, so a
receiver on localhost works.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048


class TargetRefused(ValueError):
    """A target URL that must not be used; the message says why."""


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def check_syntax(url: str) -> str:
    """The URL, stripped, if it is an absolute http(s) URL without credentials; else TargetRefused."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry credentials; sign with the budget's secret instead")
    try:
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise TargetRefused("the URL has an invalid port") from None
    return url


async def check_reachable(url: str, *, allow_private: bool) -> None:
    """Raise TargetRefused when the URL's host is, or resolves to, an address that is not public."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if host == "localhost" or host.endswith(".localhost"):
            raise TargetRefused("the URL points at this server's own network")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except OSError:
            raise TargetRefused(f"the host {host} cannot be resolved") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if any(_forbidden(address) for address in addresses):
        raise TargetRefused("the URL points at a loopback, private or reserved address; production refuses "
                            "those unless SPENDPILOT_WEBHOOK_ALLOW_PRIVATE is set")


def shown_url(url: str, channel: str) -> str:
    """A target as the API shows it: a Slack URL's path is its credential, so only its start is shown."""
    if channel != "slack":
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"
