"""URLs and domains: undo defanging, canonicalise, and find them in free text.

Links are shared "defanged" (``hxxps://site[.]com``) to dodge link filters, and the same page is
reachable under many spellings (case, ``www.``, default ports, tracking parameters, fragments,
percent-encoding). Banks must match all of them, so both bank entries and links found in uploads are
brought to one canonical form here. The registrable domain comes from ``tldextract`` with its bundled
public-suffix snapshot: nothing is fetched at run time.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import idna
import tldextract

from seawall.errors import InvalidInput

__all__ = [
    "CanonicalUrl",
    "canonical_host",
    "canonicalize_url",
    "extract_hosts",
    "extract_urls",
    "public_suffix",
    "refang",
    "registrable_domain",
]

MAX_URL_LENGTH = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}


@cache
def _tracking() -> tuple[frozenset[str], tuple[str, ...]]:
    raw = resources.files("seawall.data").joinpath("url_normalization.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(raw)
    return frozenset(data["tracking_params"]), tuple(data["tracking_prefixes"])


@cache
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=() and no cache directory: the snapshot bundled in the package, never the network
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


# --- defanging ---------------------------------------------------------------------------------

#: (pattern, replacement, needles): a pattern is run only on a text holding one of its needles, substrings
#: every match of it contains (scanning a text with a regex cost far more than looking for a few characters,
#: and most posts contain none of them).
_REFANG: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"\bh(?:xx|\*\*)p(s?)(?=\W)", re.I), r"http\1", ("xx", "xX", "Xx", "XX", "**")),
    (re.compile(r"\[\s*:\s*\]\s*//|\[\s*://\s*\]|\(\s*://\s*\)"), "://", (":",)),
    # (?<!\s): a match starts where a run of spaces starts, so a long run is scanned once, not once per space
    (re.compile(r"(?<!\s)\s*(?:\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}|<\s*(?:\.|dot)\s*>)\s*",
                re.I), ".", ("[", "(", "{", "<")),
    (re.compile(r"\[\s*/\s*\]"), "/", ("[",)),
)
# "example . com": a dot with spaces on both sides counts only before a suffix from a short list (see
# url_normalization.json), so sentences ("the end. One day…") are never glued into domains.
_SPACED_DOT = re.compile(r"\b([a-z0-9][a-z0-9-]{0,62})\s+\.\s+([a-z]{2,24})\b", re.I)


def refang(text: str) -> str:
    """``hxxp://site[.]com`` → ``http://site.com``: the forms threat-intel and extremist channels use."""
    for pattern, repl, needles in _REFANG:
        if any(n in text for n in needles):
            text = pattern.sub(repl, text)
    if "." not in text:
        return text  # every spaced dot holds one

    def glue(m: re.Match[str]) -> str:
        if m.group(2).lower() in _spaced_suffixes():
            return f"{m.group(1)}.{m.group(2)}"
        return m.group(0)

    return _SPACED_DOT.sub(glue, text)


@cache
def _spaced_suffixes() -> frozenset[str]:
    raw = resources.files("seawall.data").joinpath("url_normalization.json").read_text(encoding="utf-8")
    return frozenset(json.loads(raw)["spaced_dot_suffixes"])


# --- hosts ---------------------------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def canonical_host(host: str, *, strip_www: bool = True) -> str:
    """Lowercase ASCII (punycode) host without a trailing dot or a leading ``www.``.

    IDNA (UTS 46) so that ``пример.рф`` and ``xn--e1afmkfd.xn--p1ai`` are one host; ``www.`` because
    sites serve the same pages with and without it.
    """
    h = unquote(host).strip().rstrip(".").lower()
    if not h:
        raise InvalidInput("URL has no host", code="invalid_url")
    if _is_ip(h):
        return str(ipaddress.ip_address(h.strip("[]")))
    if not h.isascii() or "xn--" in h:
        try:
            h = idna.encode(h, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidInput(f"host {host!r} is not a valid internationalised domain name",
                               code="invalid_url") from exc
    if not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*", h):
        raise InvalidInput(f"host {host!r} is not a valid domain name", code="invalid_url")
    if strip_www and h.startswith("www.") and h.count(".") >= 2:
        h = h[4:]
    return h


def public_suffix(host: str) -> str:
    """Public suffix of a canonical host (``co.uk``, ``blogspot.com``…), empty if none is known."""
    return str(_extractor()(host).suffix)


def registrable_domain(host: str) -> str:
    """The domain a registrant controls (``example.co.uk`` for ``a.b.example.co.uk``); the host itself
    for IP addresses and hosts under no known suffix."""
    if _is_ip(host):
        return host
    r = _extractor()(host)
    if r.suffix and r.domain:
        return f"{r.domain}.{r.suffix}"
    return host


# --- URLs ----------------------------------------------------------------------------------------

# RFC 3986 unreserved characters are never percent-encoded in the canonical form; everything that
# must be encoded is, with uppercase hex.
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
_SAFE_QUERY = ":@!$'()*+,;/?-._~"


_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _norm_pct(part: str, safe: str) -> str:
    """Escapes of unreserved characters decoded, other escapes kept with uppercase hex (``%2F`` stays an
    escaped slash, not a path separator), and every character that needs it encoded as UTF-8."""

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    out: list[str] = []
    pos = 0
    for m in _PCT.finditer(part):
        out.append(quote(part[pos:m.start()], safe=safe))  # a stray % here is not an escape: %25
        out.append(fix(m))
        pos = m.end()
    out.append(quote(part[pos:], safe=safe))
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/"):
        if seg == ".":
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(seg)
    joined = "/".join(out)
    if path.endswith(("/.", "/..")):
        joined += "/"
    return joined if joined.startswith("/") else "/" + joined


@dataclass(frozen=True, slots=True)
class CanonicalUrl:
    """A canonical http(s) URL and its parts; ``key`` ignores the scheme (same page over http and https)."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: str

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def url(self) -> str:
        q = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.authority}{self.path}{q}"

    @property
    def key(self) -> str:
        q = f"?{self.query}" if self.query else ""
        return f"{self.authority}{self.path}{q}"

    def path_prefixes(self) -> list[str]:
        """Scheme-less ``host/segment/…`` prefixes from the host down to the full path, at ``/`` boundaries."""
        segs = [s for s in self.path.split("/") if s]
        out = [f"{self.authority}/"]
        for i in range(1, len(segs) + 1):
            out.append(f"{self.authority}/{'/'.join(segs[:i])}")
        return out


def canonicalize_url(url: str, *, allow_userinfo: bool = False) -> CanonicalUrl:
    """One spelling per page: lowercase scheme and host, IDNA, no ``www.``, no default port, no
    fragment, no tracking parameters (sorted otherwise), dot segments resolved, percent-encoding
    normalised, no trailing slash except the root.

    A missing scheme means ``http``. Only http and https are accepted; a URL with userinfo
    (``user@host``) is refused unless ``allow_userinfo``, in which case the userinfo is dropped so that
    ``http://trusted.example@evil.example/`` is canonicalised to the host it really opens.
    """
    raw = refang(url.strip())
    if not raw:
        raise InvalidInput("empty URL", code="invalid_url")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidInput(f"URL longer than {MAX_URL_LENGTH} characters", code="invalid_url")
    if any(c.isspace() for c in raw):
        raise InvalidInput("URL contains white space", code="invalid_url")
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)", raw):
            raise InvalidInput("only http and https URLs are supported", code="invalid_url")
        raw = "http://" + raw.lstrip("/")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", code="invalid_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidInput("only http and https URLs are supported", code="invalid_url")
    if (parts.username is not None or parts.password is not None) and not allow_userinfo:
        raise InvalidInput("URLs with a user name or password are not accepted", code="invalid_url")
    host = canonical_host(parts.hostname or "")
    if port == DEFAULT_PORTS[scheme]:
        port = None
    path = _remove_dot_segments(_norm_pct(parts.path or "/", _SAFE_PATH))
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    exact, prefixes = _tracking()
    params: list[tuple[str, str]] = []
    if parts.query:
        for piece in parts.query.split("&"):
            if not piece:
                continue
            k, sep, v = piece.partition("=")
            kd = unquote(k.replace("+", " ")).lower()
            if kd in exact or kd.startswith(prefixes):
                continue
            params.append((_norm_pct(k.replace("+", " "), _SAFE_QUERY.replace("?", "")),
                           sep + _norm_pct(v.replace("+", " "), _SAFE_QUERY)))
    query = "&".join(k + v for k, v in sorted(params))
    if ":" in host:
        host = f"[{host}]"
    return CanonicalUrl(scheme=scheme, host=host, port=port, path=path, query=query)


# --- extraction --------------------------------------------------------------------------------

_URL_WITH_SCHEME = re.compile(r"(?i)\bhttps?://[^\s<>\"'`]+")
_BARE = re.compile(
    r"(?i)(?<![@\w.\-/])((?:[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff_-]{0,62})\.)+"
    r"(?:[a-z\u00a1-\uffff]{2,24}|xn--[a-z0-9-]{1,59}))(?::\d{1,5})?(/[^\s<>\"'`]*)?(?![\w@-])"
)
_TRAILING = ".,;:!?)]}'\"»”’>"


def _trim(candidate: str) -> str:
    """Sentence punctuation after a link is not part of it (but a closing bracket that opened in it is)."""
    while candidate and candidate[-1] in _TRAILING:
        if candidate[-1] == ")" and candidate.count("(") >= candidate.count(")"):
            break
        candidate = candidate[:-1]
    return candidate


def extract_urls(text: str, *, limit: int = 100) -> list[CanonicalUrl]:
    """Canonical http(s) URLs and bare domains (``site.com/x``) in free text, defanged forms included.

    Bare domains count only under a known public suffix, so "e.g." or "file.txt" are not links.
    Duplicates are dropped; at most ``limit`` are returned, in order of appearance, so a text stuffed
    with links cannot make matching arbitrarily slow.
    """
    clean = refang(text)
    found: list[CanonicalUrl] = []
    seen: set[str] = set()
    spans: list[tuple[int, int]] = []

    def take(candidate: str) -> None:
        try:
            cu = canonicalize_url(candidate, allow_userinfo=True)
        except InvalidInput:
            return
        if cu.url not in seen:
            seen.add(cu.url)
            found.append(cu)

    # each pattern is run only on a text holding what every match of it holds (most posts hold no link)
    for m in _URL_WITH_SCHEME.finditer(clean) if "://" in clean else ():
        spans.append(m.span())
        take(_trim(m.group(0)))
        if len(found) >= limit:
            return found
    for m in _BARE.finditer(clean) if "." in clean else ():
        if any(a <= m.start() < b for a, b in spans):
            continue
        host = m.group(1).rstrip(".")
        try:
            ch = canonical_host(host, strip_www=False)
        except InvalidInput:
            continue
        parsed = _extractor()(ch)
        if not (parsed.suffix and parsed.domain):
            continue
        take(_trim(m.group(0)))
        if len(found) >= limit:
            break
    return found


def extract_hosts(text: str, *, limit: int = 100) -> list[str]:
    """Canonical hosts of every link in the text, each once."""
    out: list[str] = []
    for cu in extract_urls(text, limit=limit):
        h = cu.host
        if h not in out:
            out.append(h)
    return out
