"""
The database gone under a page (issue 29): the plugin's pages answer the documented 503 "try again"
with ``Retry-After``, and that page renders without the database, since it is what a learner sees
while the database restarts. Every statement is refused at the connection (Django's
``execute_wrapper``), as a server that went away refuses them, on whichever database the suite runs.
"""
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from activation_plugin import api
from tests.conftest import NOW, SURVEY


@contextmanager
def database_gone():
    def refuse(execute, sql, params, many, context):
        raise OperationalError(2006, "MySQL server has gone away")
    with connection.execute_wrapper(refuse):
        yield


@pytest.fixture
def window(make_definition, learner, course_key):
    make_definition(requirements=[SURVEY])
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    return window


@pytest.mark.parametrize("name", ["learner", "instructor"])
def test_a_page_asked_while_the_database_is_gone_answers_try_again_without_it(client, learner, course_key,
                                                                              window, name):
    client.force_login(learner)
    client.get(reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)}))  # a session with messages
    with database_gone():
        response = client.get(reverse(f"activation_plugin:{name}", kwargs={"course_id": str(course_key)}))
    assert response.status_code == 503 and response["Retry-After"]
    assert b"try again" in response.content.lower() and b"Nothing was saved" in response.content


def test_a_form_posted_while_the_database_is_gone_answers_try_again_and_stores_nothing(client, learner,
                                                                                       course_key, window):
    client.force_login(learner)
    requirement = window.definition.requirements.get()
    url = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": requirement.pk})
    with database_gone():
        response = client.post(url, {"idempotency_key": "down-1"})
    assert response.status_code == 503 and b"try again" in response.content.lower()
    assert not window.evidence.exists()
