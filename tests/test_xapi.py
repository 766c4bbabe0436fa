"""
The plugin's events as xAPI statements made by the real event-routing-backends (ERB) transformers,
registered by the app's ready() once ERB is an installed app; what they carry, and what they never
carry (the learner's identity: retirement leaves nothing that leads back to them).
"""
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from event_routing_backends.processors.xapi import constants
from event_routing_backends.processors.xapi.registry import XApiTransformersRegistry
from event_routing_backends.processors.xapi.transformer import XApiTransformer
from event_routing_backends.settings import common as erb_settings
from tincan import Statement

from activation_plugin import api, tracking, xapi
from activation_plugin.models import MetricSource, Review
from tests.aspects_support import statements
from tests.conftest import PROJECT, SURVEY
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff"}
PROMPTED_SURVEY = {**SURVEY, "prompts": [{"send_after_days": 0, "subject": "Hi", "body": "Tell us: {link}"}]}
EXTENSION = "https://w3id.org/xapi/openedx/extension/activation/"
VERBS = {
    tracking.WINDOW_OPENED: "http://activitystrea.ms/schema/1.0/start",
    tracking.WINDOW_ACTIVATED: "https://w3id.org/xapi/adl/verbs/satisfied",
    tracking.WINDOW_REOPENED: "http://activitystrea.ms/schema/1.0/unsatisfy",
    tracking.WINDOW_EXPIRED: "http://activitystrea.ms/schema/1.0/close",
    tracking.WINDOW_WITHDRAWN: "http://adlnet.gov/expapi/verbs/exited",
    tracking.EVIDENCE_SUBMITTED: "http://activitystrea.ms/schema/1.0/submit",
    tracking.EVIDENCE_VERIFIED: "http://activitystrea.ms/schema/1.0/approve",
    tracking.PROMPT_SENT: "http://activitystrea.ms/schema/1.0/receive",
}
# The verbs these two events had before (ERB's video verbs): ids stay those they had.
FIRST_VERBS = {
    tracking.WINDOW_OPENED: (constants.XAPI_VERB_INITIALIZED, constants.INITIALIZED),
    tracking.WINDOW_EXPIRED: (constants.XAPI_VERB_TERMINATED, constants.TERMINATED),
}


def test_without_erb_the_package_imports_and_registers_nothing():
    code = ("import sys; sys.modules['event_routing_backends'] = None\n"
            "import django; from django.conf import settings\n"
            "settings.configure(INSTALLED_APPS=['django.contrib.auth', 'django.contrib.contenttypes'])\n"
            "django.setup()\n"
            "from activation_plugin import xapi; print(xapi.register())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": ""})
    assert result.stdout.strip() == "False"


def test_the_app_registered_a_transformer_for_every_event_as_erb_is_installed():
    assert xapi.register() is True  # as ready() did at start-up: ERB is discovered as a plugin app
    assert set(VERBS) == set(xapi.XAPI_EVENTS) <= set(XApiTransformersRegistry.mapping)
    assert all(XApiTransformersRegistry.mapping[name].__module__ == "activation_plugin.xapi.transformers"
               for name in xapi.XAPI_EVENTS)


def leaves(value):
    """Every key and scalar of a statement, flattened."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


@pytest.mark.django_db(transaction=True)
def test_every_event_becomes_one_statement_about_the_learner_who_is_never_named(
        erb, events, make_definition, course_key, staff_user, settings, mailoutbox):
    # Ids no other number in the statements can be mistaken for.
    learner = UserFactory(pk=987654321, username="ada-lovelace", email="ada@example.org")
    quitter = UserFactory(pk=987654322, username="grace-hopper", email="grace@example.org")
    definition = make_definition(requirements=[STAFF_PROJECT, PROMPTED_SURVEY], window_days=30)
    project, _survey = definition.requirements.all()
    opened = timezone.now() - timedelta(days=3)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    [leaving] = api.open_windows(quitter.pk, course_key, "passing", opened)
    api.open_windows(UserFactory(pk=987654324).pk, course_key, "passing", opened - timedelta(days=40))  # expires
    api.tick(now=opened + timedelta(hours=1))
    evidence = api.record_evidence(window=window, requirement=project, source="learner", payload={"text": "Used it."},
                                   idempotency_key="p1", submitted_at=opened + timedelta(days=1))
    api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=staff_user)
    api.review_evidence(evidence, verdict="rejected", role=Review.Role.STAFF, reviewer=UserFactory(is_staff=True))
    api.withdraw_window(quitter, course_key, leaving.pk)
    source = MetricSource.objects.create(name="crm", kind="csv")
    api.ingest_observations(source, [{"external_id": "EMP-7", "metric": "handle_time", "value": 200,
                                      "observed_at": opened.isoformat()}])
    api.link_identities(source, [("EMP-7", learner)])
    emitted = events()
    # About a learner, in no course: a tracking-log event only, never a statement (a course made
    # up from its object id would count as a course in Aspects).
    assert {event["name"] for event in emitted} == set(VERBS) | {tracking.OBSERVATIONS_MATCHED}
    found = [event for event in emitted if event["name"] != tracking.OBSERVATIONS_MATCHED]

    made = statements(found)
    assert len(made) == len(found)
    for event, statement in zip(found, made):
        Statement.from_json(json.dumps(statement))  # tincan's own validation of the xAPI shape
        user = UserFactory._meta.model.objects.get(pk=event["data"]["user_id"])
        assert statement["actor"] == {"objectType": "Agent", "account": {
            "homePage": settings.LMS_ROOT_URL, "name": str(erb.ids[(user.pk, "xapi")])}}
        assert statement["verb"]["id"] == VERBS[event["name"]]
        assert statement["object"]["id"].startswith(f"{settings.LMS_ROOT_URL}/activation/")
        flat = {str(value) for value in leaves(statement)}
        assert not flat & {str(user.pk), user.username, user.email, "EMP-7"}, event["name"]
        assert not any("user" in key for key in leaves(statement) if isinstance(key, str)), event["name"]
        assert str(user.pk) not in json.dumps(statement)
        [parent] = statement["context"]["contextActivities"]["parent"]
        assert parent["id"] == f"{settings.LMS_ROOT_URL}/course/{course_key}"
        assert parent["definition"]["type"] == "http://adlnet.gov/expapi/activities/course"
        extensions = statement["context"]["extensions"]
        assert extensions[EXTENSION + "definition-id"] == definition.pk
        assert extensions[EXTENSION + "window-id"] == event["data"]["window_id"]
        assert extensions[EXTENSION + "arm"] == event["data"]["arm"]
        if event["name"] in FIRST_VERBS:
            from activation_plugin.xapi import transformers  # pylint: disable=import-outside-toplevel

            # ERB's own id for the event under its first verb: a replay of an event routed
            # before the change gives the statement Aspects has, not a second one.
            first = type("First", (XApiTransformersRegistry.mapping[event["name"]],),
                         {"_verb": transformers.verb(*FIRST_VERBS[event["name"]])})
            assert statement["id"] == str(XApiTransformer.get_event_id(first(event)))

    by_name = {event["name"]: statement for event, statement in zip(found, made)}
    activated = by_name[tracking.WINDOW_ACTIVATED]["result"]
    assert activated["success"] is True and activated["extensions"][EXTENSION + "days-to-activation"] == 1
    assert by_name[tracking.EVIDENCE_VERIFIED]["result"]["extensions"][EXTENSION + "strength"] == "staff"


def test_no_verb_is_one_erb_uses_for_the_platform_s_own_events():
    """Aspects' models select the platform's statements by verb: ours must never be among them."""
    platform = {value for name, value in vars(constants).items() if name.startswith("XAPI_VERB_")}
    assert len(set(VERBS.values())) == len(VERBS) and not set(VERBS.values()) & platform
    assert tracking.OBSERVATIONS_MATCHED not in xapi.XAPI_EVENTS


@pytest.mark.django_db(transaction=True)
def test_after_retirement_the_statements_lead_to_nobody(erb, events, make_definition, course_key):
    learner = UserFactory(pk=987654323, username="retiring", email="retiring@example.org")
    make_definition(requirements=[SURVEY])
    api.open_windows(learner.pk, course_key, "passing", timezone.now())
    [statement] = statements(events())
    actor = statement["actor"]["account"]["name"]
    assert actor == str(erb.ids[(learner.pk, "xapi")])
    api.retire_user(learner.pk)
    erb.retire(learner)  # the platform side: Aspects' sink deletes the external id mapping
    assert actor not in {str(value) for value in erb.ids.values()}
    assert {str(learner.pk), learner.username, learner.email}.isdisjoint(str(value) for value in leaves(statement))


@pytest.mark.django_db(transaction=True)
def test_matching_stored_observations_to_a_learner_emits_one_event_per_learner_and_source(events):
    learner = UserFactory()
    source = MetricSource.objects.create(name="crm", kind="csv")
    observed = timezone.now() - timedelta(days=1)
    api.ingest_observations(source, [{"external_id": "EMP-7", "metric": "handle_time", "value": value,
                                      "observed_at": (observed + timedelta(hours=value)).isoformat()}
                                     for value in (1, 2)])
    assert events() == []  # nobody matched yet
    api.link_identities(source, [("EMP-7", learner)])
    api.link_identities(source, [("EMP-7", learner)])  # already theirs: nothing changes, nothing emitted
    [event] = events(tracking.OBSERVATIONS_MATCHED)
    assert event["data"] == {"user_id": learner.pk, "source_id": source.pk, "source": "crm", "observations": 2,
                             "matched_at": event["data"]["matched_at"]}


def test_operators_allow_the_events_in_the_router_erb_configured():
    settings = type("Settings", (), {"LMS_ROOT_URL": "https://lms.example.com"})()
    erb_settings.plugin_settings(settings)  # ERB's own defaults, as the LMS applies them
    xapi.allow_xapi_events(settings)
    xapi.allow_xapi_events(settings)  # idempotent
    # pylint: disable=no-member  # ERB's plugin_settings set these on the stand-in settings object
    router = settings.EVENT_TRACKING_BACKENDS["event_transformer"]["OPTIONS"]
    inner = router["backends"]["xapi"]["OPTIONS"]["processors"][0]["OPTIONS"]["whitelist"]
    for allowed in (settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS, inner,
                    router["processors"][0]["OPTIONS"]["whitelist"], settings.EVENT_BUS_TRACKING_LOGS):
        assert set(xapi.XAPI_EVENTS) <= set(allowed)
    assert len(inner) == len(set(inner))
    assert "edx.course.enrollment.activated" in inner  # ERB's own events stay
