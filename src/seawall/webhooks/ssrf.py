"""Webhook targets must not turn Seawall into a way to reach the operator's own network (SSRF).

A URL is refused when its host is, or resolves to, a loopback, private, link-local, multicast,
reserved or otherwise non-public address, unless the operator allow-listed the host name or the
address range (``SEAWALL_WEBHOOK_ALLOW_HOSTS``). The check runs when a webhook is saved and again
before every delivery, on the addresses actually connected to: the sender connects to the address it
checked (no second DNS lookup an attacker could answer differently) and never follows redirects.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from seawall.errors import InvalidInput

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
MAX_URL_LENGTH = 2000
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class UnsafeTarget(InvalidInput):
    code = "webhook_url_forbidden"


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    def url_for(self, address: str) -> str:
        """The URL with the host replaced by the checked address, so no second lookup happens."""
        ip = ipaddress.ip_address(address)
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


#: NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): the last 32 bits are the IPv4 reached.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
#: Deprecated IPv4-compatible addresses (``::a.b.c.d``), still routed by some stacks.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to through a transition mechanism, if any.

    IPv4-mapped, IPv4-compatible, 6to4 (``2002::/16``), Teredo (``2001::/32``, the client address)
    and NAT64 addresses all reach an IPv4 host; ``2002:7f00:1::`` is 127.0.0.1 in disguise.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in (*NAT64_PREFIXES, IPV4_COMPATIBLE)) and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _plain_public(ip: IPAddress) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def _public(ip: IPAddress) -> bool:
    """Public only if the address and any IPv4 address embedded in it are both public."""
    inner = embedded_ipv4(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return inner is not None and _plain_public(inner)
    return _plain_public(ip) and (inner is None or _plain_public(inner))


class TargetPolicy:
    def __init__(self, allow: list[str], resolver: Resolver | None = None) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry.replace("-", "").replace(".", "").replace("_", "").isalnum():
                    self.names.add(entry.lower().rstrip("."))
                else:
                    log.warning("ignoring webhook allow-list entry %r: not a host name, address or CIDR", entry)
        self.resolver = resolver or system_resolver

    def _permitted(self, ip: IPAddress) -> bool:
        if _public(ip):
            return True
        plain = embedded_ipv4(ip) or ip
        return any(plain in net for net in self.networks) or any(ip in net for net in self.networks)

    def parse(self, url: str) -> Target:
        """Syntax only: http(s), a host, no credentials in the URL."""
        if len(url) > MAX_URL_LENGTH:
            raise UnsafeTarget(f"url: at most {MAX_URL_LENGTH} characters", code="invalid_webhook_url")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeTarget(f"url: {exc}", code="invalid_webhook_url") from None
        if parts.scheme not in ("http", "https"):
            raise UnsafeTarget("url: must start with https:// or http://", code="invalid_webhook_url")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise UnsafeTarget("url: has no host", code="invalid_webhook_url")
        if parts.username is not None or parts.password is not None:
            raise UnsafeTarget("url: must not contain credentials; webhooks are authenticated by their signature",
                               code="invalid_webhook_url")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)

    def addresses(self, target: Target) -> list[str]:
        """The addresses to connect to, after checking every one the host resolves to."""
        host = target.host
        if host in self.names:
            allowed_name = True
        else:
            allowed_name = False
            if host in LOCAL_NAMES or host.endswith(".localhost"):
                raise UnsafeTarget(f"url: {host} is this machine; allow-list it to use it", code=UnsafeTarget.code)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not allowed_name and not self._permitted(literal):
                raise UnsafeTarget(f"url: {literal} is not a public address (loopback, private, link-local, "
                                   "multicast or reserved); allow-list it to use it")
            return [str(literal)]
        try:
            found = self.resolver(host, target.port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeTarget(f"url: {host} does not resolve ({exc})", code="webhook_url_unresolvable") from None
        if not found:
            raise UnsafeTarget(f"url: {host} does not resolve", code="webhook_url_unresolvable")
        if not allowed_name:
            for address in found:
                if not self._permitted(ipaddress.ip_address(address)):
                    raise UnsafeTarget(f"url: {host} resolves to {address}, which is not a public address; "
                                       "allow-list it to use it")
        return found

    def check(self, url: str) -> tuple[Target, list[str]]:
        target = self.parse(url)
        return target, self.addresses(target)
