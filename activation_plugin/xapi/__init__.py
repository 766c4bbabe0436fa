"""
xAPI statements for the ``edx.activation.*`` events, through event-routing-backends (ERB).

ERB is optional: this package imports without it, and ``register`` loads the transformers only
when ERB is an installed Django app (in the LMS, ERB's own plugin entry point installs it). The
names live here, not next to the transformers, so that settings modules can allow the events
without importing ERB. Statement shapes: docs/how-tos/aspects.rst.
"""
from django.apps import apps

from activation_plugin import tracking

# Every event that has a transformer: what an operator adds to ERB's router allow-list. Not
# observations.matched: about a learner in no course run, Aspects would count it as a course.
XAPI_EVENTS = (
    tracking.WINDOW_OPENED, tracking.WINDOW_ACTIVATED, tracking.WINDOW_REOPENED, tracking.WINDOW_EXPIRED,
    tracking.WINDOW_WITHDRAWN, tracking.EVIDENCE_SUBMITTED, tracking.EVIDENCE_VERIFIED, tracking.PROMPT_SENT,
)


def register():
    """
    Register the transformers with ERB's registry, where ERB runs; returns whether it did.

    Importing the module is the registration (ERB's decorators fill its registry), so this runs
    once from the app's ``ready()``, after ERB's own app is known to Django.
    """
    if not apps.is_installed("event_routing_backends"):
        return False
    from activation_plugin.xapi import transformers  # pylint: disable=import-outside-toplevel,unused-import
    return True


def allow_xapi_events(settings):
    """
    Add ``XAPI_EVENTS`` to ERB's allow-list in a settings module (or ``django.conf.settings`` in
    tests): the list ``EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS`` and the two whitelists ERB
    already built from it in ``EVENT_TRACKING_BACKENDS`` (the router's, a copy, and the xAPI
    backend's), plus the event bus's copy when set. Run after ERB's settings, so the copies exist.
    Idempotent; adds nothing where ERB's backends are not configured.
    """
    allowed = getattr(settings, "EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS", None)
    if allowed is None:
        return
    allowed.extend(name for name in XAPI_EVENTS if name not in allowed)
    router = getattr(settings, "EVENT_TRACKING_BACKENDS", {}).get("event_transformer", {}).get("OPTIONS", {})
    xapi = router.get("backends", {}).get("xapi", {}).get("OPTIONS", {})
    for processor in [*router.get("processors", []), *xapi.get("processors", [])]:
        whitelist = processor.get("OPTIONS", {}).get("whitelist")
        if isinstance(whitelist, set):
            whitelist.update(XAPI_EVENTS)
        elif isinstance(whitelist, list):
            whitelist.extend(name for name in XAPI_EVENTS if name not in whitelist)
    if isinstance(getattr(settings, "EVENT_BUS_TRACKING_LOGS", None), set):
        settings.EVENT_BUS_TRACKING_LOGS.update(XAPI_EVENTS)
