"""
Default settings of activation-plugin, injected into the LMS/Studio settings by edx-django-utils.

Every setting is documented here with its default; operators override them in their YAML
(see ``production.py``). No secrets live here.
"""
import os

from celery.schedules import crontab

LEGACY_DASHBOARD_FILTER = "org.openedx.learning.instructor.dashboard.render.started.v1"
MFE_TABS_FILTER = "org.openedx.learning.instructor.dashboard.tabs.requested.v1"
FILTER_STEPS = {
    LEGACY_DASHBOARD_FILTER: "activation_plugin.dashboard.filters.AddActivationSection",
    MFE_TABS_FILTER: "activation_plugin.dashboard.filters.AddActivationTab",
}


def mfe_tabs_filter_available():
    """
    Whether the installed openedx-filters has the MFE's tabs filter (added in 3.4; Ulmo pins 2.1
    and early Verawood 3.1). Without it the LMS never runs a step configured for that filter type.
    """
    from openedx_filters.learning import filters  # pylint: disable=import-outside-toplevel
    return hasattr(filters, "InstructorDashboardTabsRequested")


def filter_steps():
    """The steps this LMS can run: the MFE tab step only where its filter exists (system check I001 says so)."""
    return {filter_type: step for filter_type, step in FILTER_STEPS.items()
            if filter_type != MFE_TABS_FILTER or mfe_tabs_filter_available()}


DEFAULTS = {
    # .. setting_name: ACTIVATION_PLATFORM_BACKEND
    # .. setting_default: "activation_plugin.platform.LmsBackend"
    # .. setting_description: Dotted path of the class that answers staff checks, course titles,
    #   segments and messaging. ``activation_plugin.platform.StandaloneBackend`` runs on plain Django.
    "ACTIVATION_PLATFORM_BACKEND": "activation_plugin.platform.LmsBackend",
    # .. setting_name: ACTIVATION_TICK_BATCH_SIZE
    # .. setting_default: 500
    # .. setting_description: Windows processed per transaction by the periodic tick. Small enough
    #   to keep row locks short in the shared LMS database.
    "ACTIVATION_TICK_BATCH_SIZE": 500,
    # .. setting_name: ACTIVATION_TICK_CLAIM_LEASE_MINUTES
    # .. setting_default: 30
    # .. setting_description: How long a tick may hold the prompts it claimed before a later tick
    #   decides it died: its unsent (``queued``) claims are then sent by that later tick, and a claim
    #   left ``sending`` is reported as ambiguous (``activation_prompt_claims``). Longer than a batch
    #   takes to mail; a tick that outlives it loses nothing (it skips claims taken from it).
    "ACTIVATION_TICK_CLAIM_LEASE_MINUTES": 30,
    # .. setting_name: ACTIVATION_TICK_SEND_GROUP
    # .. setting_default: 20
    # .. setting_description: How many of a batch's prompts the tick marks ``sending`` in one commit,
    #   hands to the mail backend over one connection and records ``sent`` in one statement. A tick
    #   that dies while mailing leaves at most this many prompts in doubt (``activation_prompt_claims``);
    #   1 leaves at most one, at two commits per prompt.
    "ACTIVATION_TICK_SEND_GROUP": 20,
    # .. setting_name: ACTIVATION_MIN_CELL_SIZE
    # .. setting_default: 5
    # .. setting_description: Figures about fewer learners than this, or with fewer than this on
    #   either side of the outcome (activated or not), are suppressed, so small groups cannot
    #   identify individuals. 1 turns suppression off.
    "ACTIVATION_MIN_CELL_SIZE": 5,
    # .. setting_name: ACTIVATION_PORTFOLIO_GROUP
    # .. setting_default: ""
    # .. setting_description: Name of a Django group whose members see the portfolio
    #   (``/activation/portfolio/``) of every org, like global staff; org staff and instructors see
    #   their orgs' courses. Empty: no such group.
    "ACTIVATION_PORTFOLIO_GROUP": "",
    # .. setting_name: ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES
    # .. setting_default: 5
    # .. setting_description: A definition's page shows where its course stands in its org's
    #   portfolio (its shrunken rate's rank) only when the portfolio ranks at least this many of the
    #   org's courses: among fewer, a rank says too much about each of the others.
    "ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES": 5,
    # .. setting_name: ACTIVATION_FIGURES_CACHE_SECONDS
    # .. setting_default: 300
    # .. setting_description: Longest time the Activation tab's figures are served from the cache.
    #   Writes through the api refresh them at once; this bounds figures that move with the clock
    #   alone (a window reaching its end) and prompt deliveries.
    "ACTIVATION_FIGURES_CACHE_SECONDS": 300,
    # .. setting_name: ACTIVATION_FIGURES_SYNC_SECONDS
    # .. setting_default: 5
    # .. setting_description: When computing a definition's figures last took longer than this,
    #   pages show the last figures (marked as such) and a celery task computes fresh ones, instead
    #   of making the instructor wait; below it, figures are computed during the request.
    "ACTIVATION_FIGURES_SYNC_SECONDS": 5,
    # .. setting_name: ACTIVATION_LOCK_WAIT_SECONDS
    # .. setting_default: 5
    # .. setting_description: Longest wait for a row lock in each statement of the plugin's pages and
    #   API requests, on MariaDB and MySQL (``innodb_lock_wait_timeout`` of the request's session, put
    #   back afterwards). A request that meets a row held longer answers "try again" (503 with
    #   ``Retry-After``) and stores nothing, instead of holding a worker past its timeout (gunicorn's
    #   30 s); keep it well under that. ``None`` or 0 keeps the server's value.
    "ACTIVATION_LOCK_WAIT_SECONDS": 5,
    # .. setting_name: ACTIVATION_MAX_WINDOW_DAYS
    # .. setting_default: 365
    # .. setting_description: Longest activation window an instructor may define.
    "ACTIVATION_MAX_WINDOW_DAYS": 365,
    # .. setting_name: ACTIVATION_EVIDENCE_MAX_TEXT_CHARS
    # .. setting_default: 20000
    # .. setting_description: Longest free text a learner may submit as evidence.
    "ACTIVATION_EVIDENCE_MAX_TEXT_CHARS": 20000,
    # .. setting_name: ACTIVATION_OPT_OUT_LINK_MAX_AGE_DAYS
    # .. setting_default: 365
    # .. setting_description: How long the opt-out link in a prompt keeps working. Long, because
    #   learners unsubscribe from old messages; it only ever stops messages.
    "ACTIVATION_OPT_OUT_LINK_MAX_AGE_DAYS": 365,
    # .. setting_name: ACTIVATION_SUPERVISOR_LINK_DAYS
    # .. setting_default: 14
    # .. setting_description: How long a supervisor's observation link stays valid. It works once.
    "ACTIVATION_SUPERVISOR_LINK_DAYS": 14,
    # .. setting_name: ACTIVATION_SUPERVISOR_INVITES_PER_DAY
    # .. setting_default: 3
    # .. setting_description: Different addresses a learner may send supervisor invitations to in
    #   24 hours, across their windows. The mail goes from the platform to addresses the learner
    #   types: a bound keeps it from becoming a way to write to strangers. Inviting the same
    #   supervisor again, or staff resending an invitation, adds no address.
    "ACTIVATION_SUPERVISOR_INVITES_PER_DAY": 3,
    # .. setting_name: ACTIVATION_SUPERVISOR_EMAIL_DOMAINS
    # .. setting_default: []
    # .. setting_description: If not empty, the only mail domains supervisors may be invited at
    #   (each entry also admits its subdomains), e.g. a company's own domains on a corporate
    #   platform. Empty: any domain not refused by ACTIVATION_SUPERVISOR_BLOCKED_EMAIL_DOMAINS.
    "ACTIVATION_SUPERVISOR_EMAIL_DOMAINS": [],
    # .. setting_name: ACTIVATION_SUPERVISOR_BLOCKED_EMAIL_DOMAINS
    # .. setting_default: []
    # .. setting_description: Mail domains (and their subdomains) supervisors may not be invited at,
    #   e.g. free-mail providers where anyone can open a "supervisor" mailbox.
    "ACTIVATION_SUPERVISOR_BLOCKED_EMAIL_DOMAINS": [],
    # .. setting_name: ACTIVATION_PEER_REVIEW_HOURS
    # .. setting_default: 72
    # .. setting_description: Time a volunteer has to review an assigned project before it returns to the pool.
    "ACTIVATION_PEER_REVIEW_HOURS": 72,
    # .. setting_name: ACTIVATION_EVIDENCE_MAX_FILE_MB
    # .. setting_default: 10
    # .. setting_description: Largest file a learner may attach to an applied project, in MB.
    "ACTIVATION_EVIDENCE_MAX_FILE_MB": 10,
    # .. setting_name: ACTIVATION_EVIDENCE_FILE_TYPES
    # .. setting_default: [".pdf", ".png", ".jpg", ".jpeg", ".txt", ".md", ".docx", ".pptx", ".xlsx"]
    # .. setting_description: File extensions accepted for project attachments (lower case).
    "ACTIVATION_EVIDENCE_FILE_TYPES": [".pdf", ".png", ".jpg", ".jpeg", ".txt", ".md", ".docx", ".pptx", ".xlsx"],
    # .. setting_name: ACTIVATION_API_THROTTLE_RATES
    # .. setting_default: {"user": "300/minute", "anon": "30/minute"}
    # .. setting_description: Request rates of the REST API (``/api/activation/v1/``), per
    #   authenticated user and per anonymous client address, in DRF's ``number/period`` form.
    #   Kept apart from the host's ``REST_FRAMEWORK`` throttle rates, which the plugin never changes.
    "ACTIVATION_API_THROTTLE_RATES": {"user": "300/minute", "anon": "30/minute"},
    # .. setting_name: ACTIVATION_API_MAX_PAGE_SIZE
    # .. setting_default: 100
    # .. setting_description: Largest ``page_size`` a REST API list (windows, evidence) returns;
    #   bounds the memory and time one request can take.
    "ACTIVATION_API_MAX_PAGE_SIZE": 100,
    # .. setting_name: ACTIVATION_METRIC_SOURCES
    # .. setting_default: {}
    # .. setting_description: KPI sources by name: kind (rest, webhook, csv, python), URL, auth,
    #   pagination, JMESPath mapping, schedule and allowed hosts. Secrets may be given as
    #   ``*_env`` names of environment variables; they are never stored in the database.
    #   See docs/how-tos/metric-sources.rst.
    "ACTIVATION_METRIC_SOURCES": {},
    # .. setting_name: ACTIVATION_IDENTITY_ORDER
    # .. setting_default: ["explicit", "email", "username"]
    # .. setting_description: How an external id is matched to a learner, first match wins:
    #   explicit links, then email, then username. An id with several candidates stays unmatched.
    "ACTIVATION_IDENTITY_ORDER": ["explicit", "email", "username"],
    # .. setting_name: ACTIVATION_METRIC_HTTP_TIMEOUT
    # .. setting_default: 10
    # .. setting_description: Seconds a KPI API may take to connect, and between bytes of a response.
    "ACTIVATION_METRIC_HTTP_TIMEOUT": 10,
    # .. setting_name: ACTIVATION_METRIC_MAX_RESPONSE_BYTES
    # .. setting_default: 10485760
    # .. setting_description: Largest KPI API response read (10 MiB); larger ones fail the run.
    "ACTIVATION_METRIC_MAX_RESPONSE_BYTES": 10 * 1024 * 1024,
    # .. setting_name: ACTIVATION_METRIC_MAX_ATTEMPTS
    # .. setting_default: 5
    # .. setting_description: Tries per KPI API request on timeouts, connection errors, 5xx and 429,
    #   with exponential backoff and jitter between them.
    "ACTIVATION_METRIC_MAX_ATTEMPTS": 5,
    # .. setting_name: ACTIVATION_METRIC_BACKOFF_SECONDS
    # .. setting_default: 1.0
    # .. setting_description: First backoff delay; doubles on each retry, with up to as much again of jitter.
    "ACTIVATION_METRIC_BACKOFF_SECONDS": 1.0,
    # .. setting_name: ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS
    # .. setting_default: 60
    # .. setting_description: Longest ``Retry-After`` of a 429 response that is honoured; a longer
    #   wait is cut to this so one throttled source cannot hold a worker.
    "ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS": 60,
    # .. setting_name: ACTIVATION_METRIC_MAX_REDIRECTS
    # .. setting_default: 3
    # .. setting_description: Redirects followed per request, each checked against the allowlist.
    "ACTIVATION_METRIC_MAX_REDIRECTS": 3,
    # .. setting_name: ACTIVATION_METRIC_MAX_PAGES
    # .. setting_default: 1000
    # .. setting_description: Pages read per run of a REST source; the rest waits for the next run.
    "ACTIVATION_METRIC_MAX_PAGES": 1000,
    # .. setting_name: ACTIVATION_METRIC_FAILING_AFTER
    # .. setting_default: 3
    # .. setting_description: Failed runs in a row after which a source is shown as failing.
    "ACTIVATION_METRIC_FAILING_AFTER": 3,
    # .. setting_name: ACTIVATION_METRIC_BATCH_SIZE
    # .. setting_default: 2000
    # .. setting_description: Observations written per insert statement while ingesting.
    "ACTIVATION_METRIC_BATCH_SIZE": 2000,
    # .. setting_name: ACTIVATION_METRIC_FUTURE_TOLERANCE_SECONDS
    # .. setting_default: 300
    # .. setting_description: Clock skew allowed before an observation counts as dated in the future and is refused.
    "ACTIVATION_METRIC_FUTURE_TOLERANCE_SECONDS": 300,
    # .. setting_name: ACTIVATION_METRIC_CSV_MAX_MB
    # .. setting_default: 100
    # .. setting_description: Largest CSV of observations or identity links staff may upload, in MB.
    "ACTIVATION_METRIC_CSV_MAX_MB": 100,
    # .. setting_name: ACTIVATION_WEBHOOK_TOLERANCE_SECONDS
    # .. setting_default: 300
    # .. setting_description: How far a webhook's signed timestamp may be from now; older or
    #   newer deliveries are refused as replays.
    "ACTIVATION_WEBHOOK_TOLERANCE_SECONDS": 300,
    # .. setting_name: ACTIVATION_WEBHOOK_MAX_BYTES
    # .. setting_default: 1048576
    # .. setting_description: Largest webhook body accepted (1 MiB).
    "ACTIVATION_WEBHOOK_MAX_BYTES": 1024 * 1024,
}


def plugin_settings(settings):
    """Install documented defaults without overriding what the operator already set."""
    for name, value in DEFAULTS.items():
        if not hasattr(settings, name):
            setattr(settings, name, value)
    merge_filter_steps(settings)
    # Lets the LMS find the Mako template of the legacy dashboard section by its section key.
    template_dir = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")
    mako_dirs = getattr(settings, "MAKO_TEMPLATE_DIRS_BASE", None)
    if mako_dirs is not None and template_dir not in mako_dirs:
        mako_dirs.append(template_dir)
    beat = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
    if beat is None:
        beat = settings.CELERY_BEAT_SCHEDULE = {}
    beat.setdefault("activation-tick", {
        "task": "activation_plugin.tasks.tick",
        "schedule": crontab(minute="*/15"),
    })
    beat.setdefault("activation-sweep-orphan-files", {
        "task": "activation_plugin.tasks.sweep_orphan_files",
        "schedule": crontab(hour=3, minute=17),
    })
    # Each source has its own schedule_minutes; this only looks for sources that are due.
    beat.setdefault("activation-pull-metrics", {
        "task": "activation_plugin.tasks.pull_due_metric_sources",
        "schedule": crontab(minute="*/5"),
    })


def merge_filter_steps(settings):
    """
    Append our pipeline steps to ``OPEN_EDX_FILTERS_CONFIG``, keeping every step other plugins set.

    Called from common and production settings because production replaces the dict from YAML.
    """
    config = getattr(settings, "OPEN_EDX_FILTERS_CONFIG", None)
    if config is None:
        config = settings.OPEN_EDX_FILTERS_CONFIG = {}
    for filter_type, step in filter_steps().items():
        entry = config.setdefault(filter_type, {"fail_silently": True, "pipeline": []})
        pipeline = entry.setdefault("pipeline", [])
        if step not in pipeline:
            pipeline.append(step)
