"""What operators and lost visitors meet: the REST root, refusals in the plugin's layout, a quiet console."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import translation

from demo.models import DemoCourse
from tests.factories import UserFactory, WindowFactory

ROOT = Path(__file__).resolve().parent.parent


def test_rest_root_is_an_index_of_the_api(client, db):
    """``/api/activation/v1/`` was a 404 (with DEBUG, a dump of the URL configuration)."""
    response = client.get("/api/activation/v1/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    index = response.json()
    assert index["version"] == "v1"
    assert index["schema"] == "/api/activation/v1/schema/"
    paths = {endpoint["path"]: endpoint["methods"] for endpoint in index["endpoints"]}
    assert paths["/api/activation/v1/courses/{course_id}/summaries/"] == ["GET"]
    assert "POST" in paths["/api/activation/v1/courses/{course_id}/definitions/"]
    assert "/api/activation/v1/" not in paths  # the index describes the API, not itself


def refusal(response):
    page = BeautifulSoup(response.content, "html.parser")
    assert page.find("link", rel="stylesheet")["href"].endswith("activation_plugin/activation.css")
    assert page.find("header") is not None  # the plugin's header: the way back and sign-out
    return " ".join(page.find("main").get_text().split())


def test_a_learner_opening_an_instructor_page_gets_a_refusal_in_the_plugins_layout(client, course_key, learner):
    client.force_login(learner)
    response = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)}))
    assert response.status_code == 403
    text = refusal(response)
    assert "You cannot open this page" in text
    assert "for the course team" in text
    learner_page = reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})
    assert BeautifulSoup(response.content, "html.parser").find("main").find("a", href=learner_page)


def test_a_page_that_does_not_exist_is_a_404_in_the_plugins_layout_in_french(client, db):
    client.force_login(UserFactory(is_staff=True))
    with translation.override("fr"):
        response = client.get("/activation/courses/not-a-key/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 404
    assert "Cette page n'existe pas" in refusal(response)


def run_demo(code, tmp_path):
    env = {**os.environ, "DEMO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
           "DEMO_TRACKING_LOG": str(tmp_path / "tracking.log")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
def test_manage_py_prints_no_traceback_and_tracking_events_go_to_their_own_file(tmp_path):
    """Every ``manage.py`` run printed ERB's ``No module named 'common'``; ``make demo`` 884 JSON events."""
    done = run_demo("from eventtracking import tracker; tracker.emit('edx.activation.demo.checked', {'n': 1})",
                    tmp_path)
    assert (done.stdout, done.stderr) == ("", "")
    assert '"name": "edx.activation.demo.checked"' in (tmp_path / "tracking.log").read_text(encoding="utf-8")


def test_an_unknown_course_is_a_404_not_a_refusal(client, learner):
    """Refused as if it were someone else's course, a mistyped course link read "403 Forbidden"."""
    client.force_login(learner)
    response = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": "course-v1:No+Such+Run"}))
    assert response.status_code == 404
    assert "This page does not exist" in refusal(response)


def test_the_learner_page_of_an_unknown_course_is_a_404(client, learner):
    """It answered 200 with an empty page titled by the mistyped key, as if the course existed."""
    client.force_login(learner)
    response = client.get(reverse("activation_plugin:learner", kwargs={"course_id": "course-v1:No+Such+Run"}))
    assert response.status_code == 404
    assert "This page does not exist" in refusal(response)


def test_a_removed_course_still_shows_the_learner_what_they_sent(client, course_key, learner, make_definition):
    """The 404 is for links to nothing: a learner whose course was removed keeps their windows in view."""
    WindowFactory(definition=make_definition(), user=learner, course_run=course_key)
    DemoCourse.objects.filter(course_key=course_key).delete()
    client.force_login(learner)
    response = client.get(reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)}))
    assert response.status_code == 200
