"""
Cross-site request forgery: every URL of the plugin refuses a POST without Django's CSRF token,
even from a user who may post there; the same POST with the token goes through, so the refusal
is the token check and not a permission. Reuses the world and URL matrix of
tests/test_permission_matrix.py, which names every URL of the plugin.
"""
import pytest
from django.test import Client
from django.urls import reverse

from activation_plugin.models import ActivationDefinition, ActivationWindow, Evidence, PromptOptOut, Review
from tests.test_permission_matrix import MATRIX, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db
# Machine-to-machine: no cookie to forge, each request carries its own HMAC signature
# (tests/test_kpi_webhook.py; the permission matrix asserts an unsigned POST gets 401).
CSRF_EXEMPT = {"metric_webhook"}


def allowed_user(world, expected):  # noqa: F811
    """Someone the matrix lets past its permission check: the learner, else course staff, else global staff."""
    role = next((role for role in ("learner", "course_staff") if expected[role] not in (403, 404)), "global_staff")
    return world.users[role]


def writes():
    """What any of these POSTs could change, to check a refused one changed nothing."""
    return (list(ActivationDefinition.objects.values_list("pk", "status")),
            list(ActivationWindow.objects.values_list("pk", "state")),
            Evidence.objects.count(), Review.objects.count(), PromptOptOut.objects.count())


@pytest.mark.parametrize("name", sorted(set(MATRIX) - CSRF_EXEMPT))
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(world, name):  # noqa: F811
    _method, kwargs, data, expected = MATRIX[name]
    client = Client(enforce_csrf_checks=True)
    client.force_login(allowed_user(world, expected))
    url = reverse(f"activation_plugin:{name}", kwargs=kwargs(world))
    before = writes()
    response = client.post(url, data)
    assert response.status_code == 403 and b"CSRF" in response.content, (name, response.status_code)
    assert writes() == before


@pytest.mark.parametrize("name", sorted(name for name, row in MATRIX.items()
                                        if row[0] == "post" and name not in CSRF_EXEMPT))
def test_the_same_post_with_the_token_goes_through(world, name):  # noqa: F811
    _method, kwargs, data, expected = MATRIX[name]
    client = Client(enforce_csrf_checks=True)
    user = allowed_user(world, expected)
    client.force_login(user)
    page = "learner" if user == world.learner else "review_queue"
    client.get(reverse(f"activation_plugin:{page}", kwargs=world.course))  # a page with forms sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(reverse(f"activation_plugin:{name}", kwargs=kwargs(world)),
                           {**data, "csrfmiddlewaretoken": token})
    assert response.status_code != 403, name
