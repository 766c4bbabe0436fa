"""
Issue 28: each recipe of the how-to (``activation_plugin.kpi.recipes``) pulled twice from an
imitation of its service written from the public API documentation, with several pages, a record
changed between the pulls, one arriving late (dated before everything stored), one saved in the
cursor's own second, a new one and a row the account may not read: what is stored must be exactly
what the service holds, and a third pull changes nothing.
"""
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin import api
from activation_plugin.kpi import pull, recipes, sources, trial
from activation_plugin.models import MetricObservation
from tests import kpi_services
from tests.factories import UserFactory

AGENTS = [f"agent{n}@example.com" for n in range(3)]


@pytest.fixture(autouse=True)
def agents(db, fast_retries, monkeypatch):
    for variable in ("ZENDESK_TOKEN", "HUBSPOT_TOKEN", "SNOW_PASSWORD", "JIRA_API_TOKEN"):
        monkeypatch.setenv(variable, "s3cret-" + variable.lower())
    return [UserFactory(username=email.split("@")[0], email=email) for email in AGENTS]


def seeded(service_class, server):
    """
    Seven records over the past days, one not yet solved or won, one the account may not read, and
    one observed after its last change.
    """
    base = timezone.now().replace(microsecond=0) - timedelta(days=5)
    service = service_class(server, [])
    service.items = [kpi_services.Item(
        id=service.record_id(n), owner=AGENTS[n % 3], value=10 + n, observed=base + timedelta(hours=n * 5),
        modified=base + timedelta(hours=n * 5, minutes=20), done=n != 3, hidden=n == 5) for n in range(1, 8)]
    # Observed after its last change (a close date set ahead, reached today): the observation times
    # are no cursor for a service that filters on changes.
    service.items[-1].observed = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    server.route(service.path, service.answer)
    return service


def stored(name):
    return set(MetricObservation.objects.filter(source__name=name).values_list(
        "record_id", "external_id", "value", "observed_at"))


def pull_twice(settings, server, service, recipe, name):
    if "limit" in recipe.get("pagination", {}):  # a service that takes any page size: small pages, several of them
        recipe = {**recipe, "pagination": {**recipe["pagination"], "limit": service.page_size}}
    settings.ACTIVATION_METRIC_SOURCES = {name: {**recipe, "url": server.url(service.path),
                                                 "allowed_hosts": ["127.0.0.1"], "allow_private": True}}
    if isinstance(service, kpi_services.HubSpot):  # owners by id: the identity-links upload reaches the learners
        source = api.sync_metric_source(sources.get(name))
        api.link_identities(source, [(owner_id, api_user(email)) for email, owner_id in service.owners.items()])
    tried = trial.try_source(name)
    assert (tried["status"], tried["stop"]) == ("ok", "end")
    first = pull.pull(name)
    assert first["status"] == "ok" and first["stored"] == len(service.expected())
    assert MetricObservation.objects.filter(source__name=name, user__isnull=True).count() == 0
    assert stored(name) == service.expected()
    assert len(server.requests) > 3  # several pages (the test's, then the pull's)

    now = service.now() - timedelta(minutes=2)
    cursor_second = max(item.modified for item in service.items if not item.hidden)
    changed = service.items[0]
    service.upsert(replace(changed, value=changed.value + 100, owner=AGENTS[2], observed=now - timedelta(hours=1),
                           modified=now))  # reopened, reassigned, solved again
    service.upsert(replace(service.items[1], done=True, hidden=False, id=service.record_id(8), owner=AGENTS[1],
                           observed=now - timedelta(days=20), modified=now))  # late: dated before everything
    service.upsert(replace(service.items[1], id=service.record_id(9), modified=cursor_second, done=True,
                           hidden=False))  # saved in the cursor's second, committed after the first pull read it
    service.upsert(replace(service.items[1], id=service.record_id(10), observed=now - timedelta(minutes=5),
                           modified=now, done=True, hidden=False))
    second = pull.pull(name)
    assert second["status"] == "ok", second["error"]
    assert stored(name) == service.expected()
    third = pull.pull(name)
    assert (third["stored"], third["updated"]) == (0, 0)
    assert stored(name) == service.expected()


def api_user(email):
    return UserFactory._meta.model.objects.get(email=email)


@pytest.mark.parametrize("service_class, recipe", [
    (kpi_services.Zendesk, recipes.ZENDESK),
    (kpi_services.HubSpot, recipes.HUBSPOT),
    (kpi_services.ServiceNow, recipes.SERVICENOW),
    (kpi_services.Jira, recipes.JIRA),
], ids=["zendesk", "hubspot", "servicenow", "jira"])
def test_a_recipe_stores_exactly_what_the_service_holds_over_two_pulls(settings, kpi_server, service_class, recipe):
    pull_twice(settings, kpi_server, seeded(service_class, kpi_server), recipe, service_class.__name__.lower())
