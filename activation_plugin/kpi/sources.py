"""
KPI sources as declared by the operator in ``settings.ACTIVATION_METRIC_SOURCES``.

The settings are the only place secrets and allowed hosts live: this module reads them, checks
them once per use and hands out a ``SourceConfig`` whose ``repr`` never shows a secret. Only the
non-secret part (kind, mapping, schedule) is copied to the ``MetricSource`` row.
"""
import logging
import os
from dataclasses import dataclass, field

import jmespath
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jmespath.exceptions import JMESPathError

KINDS = ("rest", "webhook", "csv", "python")
AUTH_TYPES = ("none", "bearer", "basic", "header", "oauth2")
PAGINATION_STYLES = ("none", "next_link", "link_header", "cursor", "page", "offset")
SINCE_FORMATS = ("iso", "iso_z", "datetime", "epoch", "epoch_ms", "date")
METHODS = ("GET", "POST")
OAUTH_GRANTS = ("client_credentials", "refresh_token")
FORMATS = ("json", "csv")
MAPPED_FIELDS = ("external_id", "metric", "value", "observed_at")
OPTIONAL_MAPPED_FIELDS = ("record_id", "modified_at")
log = logging.getLogger(__name__)


class Secret:
    """A credential that prints as ``***`` in reprs, logs and tracebacks' locals."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def __repr__(self):
        return "Secret('***')"

    __str__ = __repr__


def _fail(name, message):
    raise ImproperlyConfigured(f"ACTIVATION_METRIC_SOURCES[{name!r}]: {message}")


def _secret(name, config, key):
    """``key`` given literally or as ``key_env`` (the name of an environment variable)."""
    if config.get(f"{key}_env"):
        value = os.environ.get(config[f"{key}_env"])
        if not value:
            _fail(name, f"environment variable {config[f'{key}_env']} for {key!r} is not set.")
        return Secret(value)
    if config.get(key):
        return Secret(str(config[key]))
    _fail(name, f"{key!r} (or {key}_env) is required.")
    return None


def _expression(name, text, what):
    if not isinstance(text, str) or not text.strip():
        _fail(name, f"{what} must be a JMESPath expression.")
    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        _fail(name, f"{what} is not a valid JMESPath expression: {exc}")
    return None


@dataclass(frozen=True)
class Auth:
    """How a source authenticates, from its declaration; secrets stay out of ``repr``, so a logged config shows none."""

    type: str = "none"
    header: str = ""
    username: str = field(default="", repr=False)  # an API key, for some services
    secret: Secret | None = field(default=None, repr=False)
    token_url: str = ""
    scope: str = ""
    grant_type: str = "client_credentials"
    refresh_token: Secret | None = field(default=None, repr=False)

    def headers(self):
        if self.type == "bearer":
            return {"Authorization": f"Bearer {self.secret.reveal()}"}
        if self.type == "header":
            return {self.header: self.secret.reveal()}
        return {}

    def requests_auth(self):
        return (self.username, self.secret.reveal()) if self.type == "basic" else None


@dataclass(frozen=True)
class SourceConfig:  # pylint: disable=too-many-instance-attributes
    """One declared source, checked. Secrets are ``Secret`` objects and stay out of ``repr``."""

    name: str
    kind: str
    schedule_minutes: int = 60
    url: str = ""
    params: dict = field(default_factory=dict)
    auth: Auth = field(default_factory=Auth)
    pagination: dict = field(default_factory=dict)
    records: object = None
    mapping: dict = field(default_factory=dict)
    mapping_text: dict = field(default_factory=dict)
    page_mapping: object = None
    since_param: str = ""
    since_format: str = "iso"
    method: str = "GET"
    format: str = "json"
    body: object = None
    headers: dict = field(default_factory=dict)
    join: tuple = ()
    allowed_hosts: tuple = ()
    allow_private: object = ()
    webhook_secret: Secret | None = field(default=None, repr=False)
    class_path: str = ""
    courses: tuple = ()
    options: dict = field(default_factory=dict)

    def public_mapping(self):
        """What may be copied to the database and shown to staff: no secrets, no hosts."""
        return {"mapping": self.mapping_text, "pagination": self.pagination.get("style", "none")} \
            if self.kind == "rest" else {}

    def secrets(self):
        """Every secret value, so error texts can be scrubbed of them whatever produced them."""
        values = [self.auth.secret, self.auth.refresh_token, self.webhook_secret]
        usernames = [self.auth.username] if self.auth.type == "basic" else []
        return [value.reveal() for value in values if value is not None] + usernames


def _page_mapping(mapping):
    """The mapping as one projection over a page (``[*].{external_id: …, …}``), or None if it does not compile."""
    fields = ", ".join(f"{key}: {mapping[key]}" for key in (*MAPPED_FIELDS, *OPTIONAL_MAPPED_FIELDS)
                       if key in mapping)
    try:
        return jmespath.compile(f"[*].{{{fields}}}")
    except JMESPathError:
        return None


def _pagination(name, config):
    """
    The declared pagination with its defaults filled in and its JMESPath expressions compiled, so a
    mistake fails when the sources are loaded, not in the middle of a pull.
    """
    pagination = dict(config.get("pagination") or {"style": "none"})
    style = pagination.get("style", "none")
    if style not in PAGINATION_STYLES:
        _fail(name, f"pagination style must be one of {', '.join(PAGINATION_STYLES)}.")
    if style == "next_link":
        pagination["next"] = _expression(name, pagination.get("next", ""), "pagination 'next'")
    elif style == "cursor":
        pagination["next_cursor"] = _expression(name, pagination.get("next_cursor", ""), "pagination 'next_cursor'")
        pagination.setdefault("cursor_param", "cursor")
    elif style == "page":
        pagination.setdefault("page_param", "page")
        pagination.setdefault("start", 1)
        if "page_items" in pagination:
            pagination["page_items"] = _expression(name, pagination["page_items"], "pagination 'page_items'")
    elif style == "offset":
        pagination.setdefault("offset_param", "offset")
        pagination.setdefault("limit_param", "limit")
        limit = pagination.setdefault("limit", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            _fail(name, "pagination 'limit' must be a whole number, 1 or more.")
        for key in ("total", "page_size"):
            if key in pagination:
                pagination[key] = _expression(name, pagination[key], f"pagination {key!r}")
    if pagination.get("in", "query") not in ("query", "body"):
        _fail(name, "pagination 'in' must be query or body (where the page parameters go).")
    if "end" in pagination:  # e.g. Zendesk's end_of_stream: true on the last page
        pagination["end"] = _expression(name, pagination["end"], "pagination 'end'")
    return pagination


def _auth(name, config):
    """
    The declaration's ``auth``, checked once when the sources are loaded; secrets are read inline or
    from the environment (``*_env``).
    """
    auth = config.get("auth") or {"type": "none"}
    kind = auth.get("type", "none")
    if kind not in AUTH_TYPES:
        _fail(name, f"auth type must be one of {', '.join(AUTH_TYPES)}.")
    if kind == "none":
        return Auth()
    if kind == "bearer":
        return Auth(type=kind, secret=_secret(name, auth, "token"))
    if kind == "basic":
        if not auth.get("username") and not auth.get("username_env"):
            _fail(name, "basic auth needs a 'username' (or username_env: some APIs take a key as the user).")
        username = _secret(name, auth, "username").reveal()
        return Auth(type=kind, username=username, secret=_secret(name, auth, "password"))
    if kind == "oauth2":
        if not auth.get("client_id") or not str(auth.get("token_url", "")).lower().startswith(("https://", "http://")):
            _fail(name, "oauth2 auth needs 'client_id', 'client_secret' (or client_secret_env) and 'token_url'.")
        grant = auth.get("grant_type", "client_credentials")
        if grant not in OAUTH_GRANTS:
            _fail(name, f"oauth2 grant_type must be one of {', '.join(OAUTH_GRANTS)}.")
        return Auth(type=kind, username=auth["client_id"], secret=_secret(name, auth, "client_secret"),
                    token_url=auth["token_url"], scope=str(auth.get("scope", "")), grant_type=grant,
                    refresh_token=_secret(name, auth, "refresh_token") if grant == "refresh_token" else None)
    if not auth.get("header"):
        _fail(name, "header auth needs the 'header' name, e.g. X-API-Key.")
    return Auth(type=kind, header=auth["header"], secret=_secret(name, auth, "value"))


def _request_shape(name, config):
    """Method, JSON body, extra headers, the ``since`` format and the sideloaded lists to join, checked."""
    method = str(config.get("method", "GET")).upper()
    if method not in METHODS:
        _fail(name, f"method must be one of {', '.join(METHODS)}.")
    headers = config.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        _fail(name, "'headers' must map header names to text (secrets go in 'auth').")
    if {key.lower() for key in headers} & {"authorization", "cookie"}:
        _fail(name, "credentials go in 'auth', not in 'headers'.")
    since_format = config.get("since_format", "iso")
    if since_format not in SINCE_FORMATS:
        _fail(name, f"since_format must be one of {', '.join(SINCE_FORMATS)}.")
    joins = config.get("join") or []
    joins = [dict(joins)] if isinstance(joins, dict) else [dict(join) for join in joins if isinstance(join, dict)]
    for join in joins:  # Zendesk sideloads users and metric_sets beside the tickets: one join each
        if not all(isinstance(join.get(key), str) and join[key] for key in ("list", "key", "field", "as")):
            _fail(name, "each 'join' needs 'list' (JMESPath of the sideloaded list), 'key', 'field' and 'as'.")
        join["list"] = _expression(name, join["list"], "join 'list'")
    response_format = config.get("format", "json")
    if response_format not in FORMATS:
        _fail(name, f"format must be one of {', '.join(FORMATS)}.")
    return {"method": method, "body": config.get("body"), "headers": dict(headers), "since_format": since_format,
            "join": tuple(joins), "format": response_format}


def _allow_private(name, config):
    """``True`` (every allowed host may be private), or the allowed hosts that may resolve privately."""
    value = config.get("allow_private", ())
    if value is True:
        return True
    if value is False or value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(host, str) for host in value):
        _fail(name, "allow_private must be true, false or a list of host names.")
    return tuple(host.lower() for host in value)


def parse(name, config):
    """The checked config of one source; raises ImproperlyConfigured naming the source and the problem."""
    if not isinstance(config, dict):
        _fail(name, "must be a dict.")
    kind = config.get("kind", "rest")
    if kind not in KINDS:
        _fail(name, f"kind must be one of {', '.join(KINDS)}.")
    schedule = config.get("schedule_minutes", 60)
    if not isinstance(schedule, int) or isinstance(schedule, bool) or schedule < 1:
        _fail(name, "schedule_minutes must be a whole number of minutes, 1 or more.")
    common = {"name": name, "kind": kind, "schedule_minutes": schedule,
              "options": {key: config[key] for key in ("timeout", "max_pages", "lookback_seconds") if key in config}}
    lookback = config.get("lookback_seconds", 0)
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0:
        _fail(name, "lookback_seconds must be a whole number of seconds, 0 or more.")
    if kind == "webhook":
        return SourceConfig(**common, webhook_secret=_secret(name, config, "secret"))
    if kind == "csv":
        courses = config.get("courses", [])
        if not isinstance(courses, (list, tuple)) or not all(isinstance(course, str) for course in courses):
            _fail(name, "'courses' must list the course keys (or org+course) whose staff may upload to it.")
        return SourceConfig(**common, courses=tuple(courses))
    if kind == "python":
        if not config.get("class"):
            _fail(name, "a python source needs 'class', the dotted path of its connector class.")
        return SourceConfig(**common, class_path=config["class"], auth=_auth(name, config),
                            allowed_hosts=tuple(config.get("allowed_hosts", ())),
                            allow_private=_allow_private(name, config),
                            params=dict(config.get("params") or {}))
    url = config.get("url", "")
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        _fail(name, "'url' must start with https:// (or http://).")
    hosts = config.get("allowed_hosts")
    if not isinstance(hosts, (list, tuple)) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        _fail(name, "'allowed_hosts' must list the host names requests may go to.")
    mapping = config.get("mapping") or {}
    missing = [key for key in MAPPED_FIELDS if key not in mapping]
    if missing:
        _fail(name, f"the mapping lacks {', '.join(missing)}.")
    mapped = [key for key in (*MAPPED_FIELDS, *OPTIONAL_MAPPED_FIELDS) if key in mapping]
    return SourceConfig(
        **common, url=url, params=dict(config.get("params") or {}), auth=_auth(name, config),
        pagination=_pagination(name, config), records=_expression(name, config.get("records", "@"), "'records'"),
        mapping={key: _expression(name, mapping[key], f"mapping {key!r}") for key in mapped},
        mapping_text={key: mapping[key] for key in mapped}, page_mapping=_page_mapping(mapping),
        since_param=config.get("since_param", ""), **_request_shape(name, config),
        allowed_hosts=tuple(host.lower() for host in hosts), allow_private=_allow_private(name, config),
    )


def declared(skip_invalid=False):
    """
    Every declared source by name, checked. ``skip_invalid`` leaves out (and logs) the broken
    ones, so one misconfigured source cannot take the pages of the others down.
    """
    sources = getattr(settings, "ACTIVATION_METRIC_SOURCES", {}) or {}
    checked = {}
    for name, config in sources.items():
        try:
            checked[name] = parse(name, config)
        except ImproperlyConfigured as exc:
            if not skip_invalid:
                raise
            log.error("%s", exc)
    return checked


def get(name):
    """One declared source; KeyError if the operator did not declare it."""
    sources = getattr(settings, "ACTIVATION_METRIC_SOURCES", {}) or {}
    return parse(name, sources[name])


def uploadable(config, course_key):
    """Whether staff of this course run may upload CSV files to this source."""
    catalog = f"{course_key.org}+{course_key.course}"
    return config.kind == "csv" and bool({str(course_key), catalog} & set(config.courses))
