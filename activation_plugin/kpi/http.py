"""
The only way the plugin talks to a KPI API: a guarded JSON request (GET, or POST with a JSON body
for search and GraphQL endpoints).

Guards against server-side request forgery (only the source's allowed hosts; no private,
loopback, link-local or reserved address unless the operator allows it; redirects followed by
hand through the same checks), against hostile responses (size cap, timeouts, malformed JSON),
and against flaky ones (retries with exponential backoff and jitter on timeouts, connection
errors, a connection dropped mid-body and 5xx; ``Retry-After`` honoured on 429, and on a 403
that carries one, as GitHub and Salesforce throttle, capped). Error messages are built here from
the status and host only, then scrubbed of the source's secrets, so no credential reaches a log,
``last_error`` or a page.
"""
import csv
import io
import ipaddress
import random
import re
import socket
import time
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from django.utils import timezone

from activation_plugin import json_input

REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """A request failed for good (after retries, or a refusal that retrying cannot fix)."""


class Refused(FetchError):
    """The request was not sent: the host or address is not allowed."""


def scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url):
    """``(scheme, host, port)``: what a browser would call the URL's origin."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower().rstrip("."), parts.port or DEFAULT_PORTS.get(parts.scheme)


def _refusal(url, config):
    """
    Why ``url``'s host and port are not allowed, or "". An ``allowed_hosts`` entry is a host name,
    ``*.example.com`` for its subdomains, or either with ``:port``. Without a port it allows the
    scheme's default port, and the port of the source's own ``url`` on that host: a next page or a
    redirect to another port of the same machine (an admin or database port) is refused.
    """
    scheme, host, port = _origin(url)
    own_scheme, own_host, own_port = _origin(config.url) if config.url else (None, None, None)
    named = False
    for entry in config.allowed_hosts:
        pattern, _colon, entry_port = entry.rpartition(":")
        if not entry_port.isdigit():  # no port given: the whole entry is the host pattern
            pattern, entry_port = entry, ""
        if not (host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))):
            continue
        named = True
        ports = {int(entry_port)} if entry_port else {DEFAULT_PORTS[scheme]} | (
            {own_port} if (own_scheme, own_host) == (scheme, host) else set())
        if port in ports:
            return ""
    if named:
        return f"Refused request to {host}:{port}: that port is not in the source's allowed_hosts."
    return f"Refused request to {host}: not in the source's allowed_hosts."


def _address_public(address):
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_global and not ip.is_multicast


def check_url(url, config):
    """
    Raise Refused unless ``url`` is http(s) to an allowed host that resolves to allowed addresses.

    Returns:
        list[str] | None: the addresses checked, in the resolver's order, for the connection to use
        (``_pin``); None where the operator allows private addresses and nothing was checked.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"Refused {parts.scheme or 'a'} URL: only http and https to a named host are fetched.")
    host = parts.hostname
    refusal = _refusal(url, config)
    if refusal:
        raise Refused(refusal)
    if config.allow_private is True or host.lower() in config.allow_private:
        return None
    try:
        addresses = list(dict.fromkeys(
            info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)))
    except socket.gaierror as exc:
        raise FetchError(f"Cannot resolve {host}.") from exc
    private = sorted(address for address in addresses if not _address_public(address))
    if private:
        raise Refused(f"Refused request to {host}: it resolves to a private or local address "
                      f"({', '.join(private)}); set allow_private on the source to permit it.")
    return addresses


def _pinned(connection_class, host, address):
    """
    ``connection_class`` connecting to ``address`` for ``host``: the TCP connection goes to the
    address that was checked, while the Host header, TLS SNI and certificate check keep the name.
    """
    class Pinned(connection_class):
        """``_dns_host`` is urllib3's own attribute (the address its socket connects to), set in its __init__."""

        # pylint: disable=attribute-defined-outside-init
        def _new_conn(self):
            if self.host.lower().rstrip(".") != host:
                raise OSError(f"A connection to {self.host} on the one pinned to {host}.")
            resolved, self._dns_host = self._dns_host, address
            try:
                return super()._new_conn()
            finally:
                self._dns_host = resolved
    return Pinned


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """Requests of one hop, connected to the address ``check_url`` approved (no second DNS answer)."""

    def __init__(self, host, address):
        self._pin = (host, address)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        host, address = self._pin
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PinnedPool", (urllib3.HTTPConnectionPool,), {
                "ConnectionCls": _pinned(urllib3.connection.HTTPConnection, host, address)}),
            "https": type("PinnedPool", (urllib3.HTTPSConnectionPool,), {
                "ConnectionCls": _pinned(urllib3.connection.HTTPSConnection, host, address)}),
        }


def _pin(session, url, addresses):
    """
    Send ``session``'s next request to ``url`` to the first checked address: DNS rebinding (a public
    answer for the check, a private one for the connection) cannot move it, nor its credentials.
    """
    if addresses is None:
        return
    scheme = urlsplit(url).scheme
    previous = session.adapters.get(f"{scheme}://")
    session.mount(f"{scheme}://", _PinnedAdapter(urlsplit(url).hostname.lower().rstrip("."), addresses[0]))
    if previous is not None:
        previous.close()


def _check_peer(response, url, config):
    """
    The address actually connected to must pass the same rule as the resolved ones: a second line
    behind ``_pin``, should a connection ever reach another address, gets no body read.
    """
    host = urlsplit(url).hostname.lower()
    if config.allow_private is True or host in config.allow_private:
        return
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    address = sock.getpeername()[0] if sock is not None else None
    if address is None or not _address_public(address):
        response.close()
        raise Refused(f"Refused response from {host}: the connection went to a private or local address "
                      f"({address or 'unknown'}).")


def _retry_after(response, cap):
    """
    How long a throttling API asks us to wait, in seconds and never beyond ``cap``: Retry-After as
    seconds or as an HTTP date, or GitHub's X-RateLimit-Reset; one second when unreadable.
    """
    value = response.headers.get("Retry-After", "")
    reset = response.headers.get("X-RateLimit-Reset", "")
    if not value and reset.isdigit():  # GitHub: the epoch second the quota comes back
        return min(max(int(reset) - time.time(), 0.0), cap)
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
        except (TypeError, ValueError):
            seconds = 1.0
    return min(max(seconds, 0.0), cap)


def _backoff(attempt, base):
    """Exponential with full jitter on top: ``base * 2**attempt`` plus up to as much again."""
    delay = base * 2 ** attempt
    return delay + random.uniform(0, delay)  # noqa: S311  # jitter, not cryptography


def _read_capped(response, cap):
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"The response is larger than {cap} bytes.")
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body.extend(chunk)
        if len(body) > cap:
            raise FetchError(f"The response is larger than {cap} bytes.")
    return bytes(body)


def _send_once(session, url, config, request, timeout):
    """One request, redirects followed by hand; returns the final response (body unread)."""
    params = request.params
    for _hop in range(settings.ACTIVATION_METRIC_MAX_REDIRECTS + 1):
        _pin(session, url, check_url(url, config))
        # Credentials go to the source's own origin only: another allowed host or port a redirect
        # or a next-page link names is asked without them.
        own = not config.url or _origin(url) == _origin(config.url)
        headers = dict(config.headers)
        if own:
            headers.update(config.auth.headers())
            if config.auth.type == "oauth2":
                headers["Authorization"] = f"Bearer {oauth_token(session, config, request.refresh_token)}"
        response = session.request(request.method, url, params=params, json=request.body, headers=headers,
                                   auth=config.auth.requests_auth() if own else None,
                                   timeout=timeout, allow_redirects=False, stream=True)
        _check_peer(response, url, config)
        if response.status_code not in REDIRECTS:
            return response
        location = response.headers.get("Location", "")
        response.close()
        if not location:
            raise FetchError(f"HTTP {response.status_code} from {urlsplit(url).hostname} without a Location.")
        url, params = urljoin(url, location), None  # the Location carries its own query
    raise FetchError(f"More than {settings.ACTIVATION_METRIC_MAX_REDIRECTS} redirects from {urlsplit(url).hostname}.")


@dataclass(frozen=True)
class Request:
    """What to ask: the method, the query parameters, for a POST the JSON body, and how to read the answer."""

    method: str = "GET"
    params: dict | None = None
    body: object = None
    refresh_token: bool = False
    format: str = "json"  # or "csv": a list of dicts, one per row, keyed by the header row


_tokens = {}  # source name -> (access token, monotonic expiry): one token per source and process


def oauth_token(session, config, refresh=False):
    """
    An OAuth2 access token for the source (a client-credentials or a refresh-token grant), fetched
    from its ``token_url`` through the same guards (allowed host, public address) and kept until a
    minute before it expires; ``refresh`` fetches a new one (the API answered 401). A refusal
    keeps the endpoint's ``error`` and ``error_description`` (scrubbed by the caller).
    """
    cached = _tokens.get(config.name)
    if cached and not refresh and cached[1] > time.monotonic():
        return cached[0]
    auth = config.auth
    form = {"grant_type": auth.grant_type, "client_id": auth.username, "client_secret": auth.secret.reveal(),
            **({"refresh_token": auth.refresh_token.reveal()} if auth.refresh_token else {}),
            **({"scope": auth.scope} if auth.scope else {})}
    url = auth.token_url
    _pin(session, url, check_url(url, config))
    response = session.post(url, data=form, timeout=_timeout(config), allow_redirects=False, stream=True)
    with response:
        _check_peer(response, url, config)
        if response.status_code != 200:
            raise FetchError(f"The token endpoint {urlsplit(url).hostname} answered HTTP {response.status_code}"
                             f"{_token_refusal(response)}.")
        body = _decoded(_read_capped(response, 1024 * 1024), urlsplit(url).hostname)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise FetchError(f"The token endpoint {urlsplit(url).hostname} sent no access_token.")
    lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), (int, float)) else 3600
    _tokens[config.name] = (token, time.monotonic() + max(lifetime - 60, 0))
    return token


def _token_refusal(response):
    """``: error (error_description)`` from an RFC 6749 error body, or "" when it has none."""
    try:
        body = json_input.loads(_read_capped(response, 64 * 1024))
    except (FetchError, UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(body, dict) or not body.get("error"):
        return ""
    description = body.get("error_description")
    return f": {str(body['error'])[:100]}" + (f" ({str(description)[:300]})" if description else "")


THROTTLED = re.compile(r"rate.?limit|throttl", re.IGNORECASE)


def api_errors(body):
    """
    The first messages of the ``errors`` a GraphQL server (or a REST API like it) sent with HTTP 200,
    and whether they say the request was throttled (``RATELIMITED``, ``THROTTLED``, GitHub's ``RATE_LIMITED``).
    """
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return [], False
    messages, words = [], []
    for error in errors[:3]:
        error = error if isinstance(error, dict) else {"message": error}
        extensions = error.get("extensions") if isinstance(error.get("extensions"), dict) else {}
        messages.append(str(error.get("message", ""))[:300])
        words += [str(error.get("message", "")), str(error.get("type", "")), str(extensions.get("code", ""))]
    return messages, bool(THROTTLED.search(" ".join(words)))


@dataclass(frozen=True)
class Page:
    """A decoded JSON response and its headers (``Link`` carries the next page for some APIs)."""

    body: object
    headers: dict


def fetch(url, config, request=Request(), sleep=time.sleep):
    """
    The decoded JSON (or CSV, by ``request.format``) and headers of a request, after retries. GraphQL
    ``errors`` sent with HTTP 200 fail with the server's message, or are retried when they say throttled.

    Raises:
        Refused: the URL, a redirect or an address is not allowed (never retried).
        FetchError: still failing after ``ACTIVATION_METRIC_MAX_ATTEMPTS``, a 4xx, an oversize
            or malformed body. The message holds no secret.
    """
    try:
        return _fetch(url, config, request, sleep)
    except FetchError as exc:
        raise type(exc)(scrub(str(exc), config.secrets())) from None


def get_json(url, config, params=None, sleep=time.sleep):
    """The decoded JSON of a guarded GET: what Python connectors call (``fetch`` for headers or a POST)."""
    return fetch(url, config, Request(params=params), sleep).body


def _timeout(config):
    return config.options.get("timeout", settings.ACTIVATION_METRIC_HTTP_TIMEOUT)


def _fetch(url, config, request, sleep):
    """
    ``fetch`` before its errors are scrubbed: timeouts, dropped connections, throttling and 5xx are
    retried with backoff (or the server's Retry-After); a 4xx or a refused address fails at once.
    """
    timeout = _timeout(config)
    attempts = settings.ACTIVATION_METRIC_MAX_ATTEMPTS
    host = urlsplit(url).hostname
    problem = ""
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment may route around the address checks
        for attempt in range(attempts):
            wait = _backoff(attempt, settings.ACTIVATION_METRIC_BACKOFF_SECONDS)
            try:
                page, problem, retry_after = _attempt(session, url, config, request, timeout)
            except requests.Timeout:
                page, problem, retry_after = None, f"{host} timed out after {timeout} s", None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                page, problem, retry_after = None, f"cannot connect to {host}, or it dropped the connection", None
            except requests.RequestException as exc:
                raise FetchError(f"Request to {host} failed ({type(exc).__name__}).") from None
            if page is not None:
                body, headers, answering = page
                body = _decoded_csv(body, answering) if request.format == "csv" else _decoded(body, answering)
                messages, throttled = api_errors(body)
                if not throttled:
                    if messages and not (isinstance(body, dict) and body.get("data")):
                        raise FetchError(f"{answering} answered with errors: {'; '.join(messages)}")
                    return Page(body, headers)
                problem = f"{answering} throttled the request ({messages[0]})"
            if attempt + 1 < attempts:
                sleep(wait if retry_after is None else retry_after)
    raise FetchError(f"Gave up after {attempts} attempts: {problem}.")


def _attempt(session, url, config, request, timeout):
    """``((body, headers), None, None)`` on success, ``(None, problem, retry_after)`` when worth retrying."""
    host = urlsplit(url).hostname
    with _send_once(session, url, config, request, timeout) as response:
        status = response.status_code
        cap = settings.ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS
        if status == 429 or (status == 403 and (response.headers.get("Retry-After")
                                                or response.headers.get("X-RateLimit-Remaining") == "0")):
            return None, f"{host} throttled the request (HTTP {status})", _retry_after(response, cap)
        if status >= 500:
            return None, f"HTTP {status} from {host}", None
        if status == 401 and config.auth.type == "oauth2" and not request.refresh_token:
            # The token expired early or was revoked: one more try with a fresh one.
            return _attempt(session, url, config, replace(request, refresh_token=True), timeout)
        if status >= 400:
            raise FetchError(f"HTTP {status} from {host}.")
        # The host that answered, after any redirect, is the one an error about the body names.
        return (_read_capped(response, settings.ACTIVATION_METRIC_MAX_RESPONSE_BYTES), dict(response.headers),
                urlsplit(response.url).hostname or host), None, None


def _decoded_csv(body, host):
    """A CSV body (a spreadsheet export) as one dict per row, keyed by the header row."""
    try:
        return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FetchError(f"{host} returned malformed CSV ({type(exc).__name__}).") from None


def _decoded(body, host):
    try:
        return json_input.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FetchError(f"{host} returned malformed JSON: {exc}" if isinstance(exc, json_input.TooDeep)
                         else f"{host} returned malformed JSON.") from None
