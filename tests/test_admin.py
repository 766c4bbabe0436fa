"""The Django admin only reads: what it would write bypasses the api, and a delete cascades."""
import pytest
from django.urls import reverse

from activation_plugin.models import ActivationDefinition, ActivationWindow
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_operators_read_every_model_but_cannot_add_change_or_delete(operator, make_definition, learner, course_key):
    definition = make_definition()
    name = "admin:activation_plugin_activationdefinition"
    assert operator.get(reverse(f"{name}_changelist")).status_code == 200
    page = operator.get(reverse(f"{name}_change", args=[definition.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content and b"deletelink" not in page.content
    assert operator.get(reverse(f"{name}_add")).status_code == 403
    assert operator.get(reverse(f"{name}_delete", args=[definition.pk])).status_code == 403
    bulk = operator.post(reverse(f"{name}_changelist"),
                         {"action": "delete_selected", "_selected_action": [definition.pk], "post": "yes"})
    assert bulk.status_code in (200, 302) and ActivationDefinition.objects.filter(pk=definition.pk).exists()


def test_every_registered_model_is_read_only(operator):
    from django.contrib import admin  # pylint: disable=import-outside-toplevel

    request = operator.get("/").wsgi_request
    for model, model_admin in admin.site._registry.items():  # pylint: disable=protected-access
        if model._meta.app_label == "activation_plugin":
            assert not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
                        or model_admin.has_delete_permission(request)), model
    assert ActivationWindow in admin.site._registry  # pylint: disable=protected-access
