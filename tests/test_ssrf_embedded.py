"""SSRF: IPv6 transition addresses that smuggle a private IPv4 address are refused like the address itself.

6to4 (``2002:7f00:1::`` is 127.0.0.1), Teredo, NAT64 and IPv4-mapped/-compatible forms all reach an
IPv4 host; the check must look at that host, both for literal URLs and for names that resolve to them.
"""

from __future__ import annotations

import ipaddress

import pytest

from seawall.webhooks.ssrf import TargetPolicy, UnsafeTarget, embedded_ipv4


def _teredo(client: str) -> str:
    """A Teredo address (server 65.54.227.120) whose obfuscated client address is ``client``."""
    server = int(ipaddress.IPv4Address("65.54.227.120"))
    hidden = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (server << 64) | (0x8000 << 48) | (0x63BF << 32) | hidden))


PRIVATE_V4 = ["127.0.0.1", "10.0.0.7", "192.168.1.1", "169.254.169.254", "172.16.0.1", "100.64.0.1", "0.0.0.0"]


def _disguises(v4: str) -> list[str]:
    n = int(ipaddress.IPv4Address(v4))
    return [
        str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),  # 6to4
        _teredo(v4),
        str(ipaddress.IPv6Address((0x0064FF9B << 96) | n)),  # NAT64 well-known prefix
        str(ipaddress.IPv6Address((0x0064FF9B0001 << 80) | n)),  # NAT64 local-use prefix
        f"::ffff:{v4}",  # IPv4-mapped
        f"::{v4}",  # IPv4-compatible
    ]


@pytest.mark.parametrize("v4", PRIVATE_V4)
def test_embedded_private_ipv4_is_refused_as_literal_and_via_dns(v4: str) -> None:
    for v6 in _disguises(v4):
        if v6 != "::0.0.0.0":  # that one is simply the unspecified address ::
            assert embedded_ipv4(ipaddress.ip_address(v6)) == ipaddress.IPv4Address(v4), v6
        policy = TargetPolicy([], lambda host, port, v6=v6: [v6])
        with pytest.raises(UnsafeTarget) as exc:
            policy.check(f"http://[{v6}]:8080/hook")
        assert exc.value.status == 422 and exc.value.code == "webhook_url_forbidden"
        with pytest.raises(UnsafeTarget):
            policy.check("http://rebinding.example/hook")


def test_6to4_of_loopback_from_the_probe() -> None:
    with pytest.raises(UnsafeTarget):
        TargetPolicy([], lambda h, p: []).check("http://[2002:7f00:1::]/")


def test_6to4_of_a_public_address_is_still_accepted() -> None:
    target, addresses = TargetPolicy([], lambda h, p: []).check("http://[2002:5db8:d822::1]/")  # 93.184.216.34
    assert addresses == ["2002:5db8:d822::1"] and target.port == 80


def test_allow_list_of_the_ipv4_range_admits_its_disguises() -> None:
    policy = TargetPolicy(["127.0.0.1"], lambda h, p: [])
    assert policy.check("http://[2002:7f00:1::]/")[1] == ["2002:7f00:1::"]
    with pytest.raises(UnsafeTarget):
        policy.check("http://[2002:7f00:2::]/")
