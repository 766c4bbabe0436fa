"""REST API v1: who may call what (JWT and session authentication, object permissions, throttling)."""
import logging

import jwt
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, Review
from tests.conftest import PROJECT, mint_jwt
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(name, **kwargs):
    return reverse(f"activation_plugin:api_v1:{name}", kwargs={k: str(v) for k, v in kwargs.items()})


@pytest.fixture
def seeded(make_definition, course_key, learner):
    """An active definition, a learner's window and a project waiting for staff review."""
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    evidence = api.save_learner_response(window=window, requirement=definition.requirements.get(),
                                         payload={"text": "I did it"}, idempotency_key="k1")
    return definition, window, evidence


def other_course_staff():
    user = UserFactory(username="elsewhere")
    Group.objects.create(name="activation-staff:course-v1:OtherX+ELSE+2026").user_set.add(user)
    return user


def staff_endpoints(course_key, definition, evidence):
    return [
        ("get", url("definitions", course_id=course_key)),
        ("post", url("definitions", course_id=course_key)),
        ("get", url("definition", course_id=course_key, definition_id=definition.pk)),
        ("patch", url("definition", course_id=course_key, definition_id=definition.pk)),
        ("post", url("definition_activate", course_id=course_key, definition_id=definition.pk)),
        ("post", url("definition_archive", course_id=course_key, definition_id=definition.pk)),
        ("post", url("definition_requirements", course_id=course_key, definition_id=definition.pk)),
        ("get", url("definition_summary", course_id=course_key, definition_id=definition.pk)),
        ("get", url("summaries", course_id=course_key)),
        ("get", url("windows", course_id=course_key)),
        ("get", url("evidence", course_id=course_key)),
        ("get", url("evidence_detail", course_id=course_key, evidence_id=evidence.pk)),
        ("post", url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk)),
    ]


@pytest.mark.parametrize("who, expected", [("anonymous", 401), ("learner", 403), ("other_course_staff", 403)])
def test_only_course_staff_reach_staff_endpoints(api_client, seeded, course_key, learner, who, expected):
    definition, _window, evidence = seeded
    user = {"anonymous": None, "learner": learner, "other_course_staff": other_course_staff()}[who]
    if user:
        api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(user)}")
    for method, endpoint in staff_endpoints(course_key, definition, evidence):
        response = getattr(api_client, method)(endpoint, {"verdict": "verified", "name": "x"}, format="json")
        assert response.status_code == expected, (method, endpoint, response.content)
        assert set(response.json()) == {"field", "message"}
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("JWT")
    definition.refresh_from_db()
    assert definition.status == "active" and definition.name == "Applies the skill"
    assert not Review.objects.exists() and ActivationDefinition.objects.count() == 1


@pytest.mark.parametrize("who", ["course_staff", "staff_user"])
def test_course_staff_and_global_staff_reach_every_staff_endpoint(request, api_client, seeded, course_key, who):
    definition, _window, evidence = seeded
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(request.getfixturevalue(who))}")
    for method, endpoint in staff_endpoints(course_key, definition, evidence):
        if method == "get":
            assert getattr(api_client, method)(endpoint).status_code == 200, endpoint


def test_jwt_authenticates_a_real_signed_token_and_refuses_forged_or_expired_ones(api_client, course_staff,
                                                                                  course_key, caplog):
    endpoint = url("definitions", course_id=course_key)
    token = mint_jwt(course_staff)
    assert api_client.get(endpoint, HTTP_AUTHORIZATION=f"JWT {token}").status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    expired = mint_jwt(course_staff, exp=1_000_000, iat=999_000)
    wrong_audience = mint_jwt(course_staff, aud="someone-else")
    with caplog.at_level(logging.DEBUG):
        for bad in (forged, expired, wrong_audience):
            response = api_client.get(endpoint, HTTP_AUTHORIZATION=f"JWT {bad}")
            assert response.status_code == 401, bad
            assert bad not in response.content.decode()
    assert all(bad not in record.getMessage() for record in caplog.records for bad in (token, forged, expired))


def test_session_authentication_needs_csrf_for_unsafe_methods(api_client, course_staff, course_key):
    api_client.force_login(course_staff)
    endpoint = url("definitions", course_id=course_key)
    assert api_client.get(endpoint).status_code == 200
    body = {"name": "By session", "behavior": "b", "window_days": 10}
    refused = api_client.post(endpoint, body, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert not ActivationDefinition.objects.exists()
    page = api_client.get(url("definitions", course_id=course_key))
    token = page.cookies.get("csrftoken") or api_client.cookies.get("csrftoken")
    if token is None:  # the API sets no cookie; the LMS page that embeds the MFE does, as the login page here
        api_client.get(reverse("login"))
        token = api_client.cookies["csrftoken"]
    accepted = api_client.post(endpoint, body, format="json", HTTP_X_CSRFTOKEN=token.value)
    assert accepted.status_code == 201, accepted.content


def test_inactive_staff_are_not_staff_even_with_a_session(api_client, course_staff, course_key):
    course_staff.is_active = False
    course_staff.save()
    api_client.force_login(course_staff)
    assert api_client.get(url("definitions", course_id=course_key)).status_code in (401, 403)


def test_without_public_signing_keys_jwts_are_declined_not_trusted(api_client, course_staff, course_key, settings):
    """edx-drf-extensions would accept any signature against an empty key set; we decline instead."""
    settings.JWT_AUTH = {**settings.JWT_AUTH, "JWT_PUBLIC_SIGNING_JWK_SET": None}
    forged = jwt.encode(jwt.decode(mint_jwt(course_staff), options={"verify_signature": False}),
                        "not-the-issuer-secret-but-32-bytes-long!", algorithm="HS256")
    assert api_client.get(url("definitions", course_id=course_key),
                          HTTP_AUTHORIZATION=f"JWT {forged}").status_code == 401


def test_learners_read_only_their_own_windows(api_client, seeded, course_key, learner):
    _definition, window, evidence = seeded
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=UserFactory(username="reviewer"),
                        comment="Well argued")
    other = UserFactory(username="other-learner")
    mine = url("my_windows", course_id=course_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(learner)}")
    [item] = api_client.get(mine).json()
    assert (item["id"], item["state"]) == (window.pk, "activated")
    assert item["evidence"][0]["feedback"] == [{"role": "staff", "verdict": "verified", "comment": "Well argued"}]
    text = str(item)
    assert "reviewer" not in text and "arm" not in item and "holdout" not in text
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(other)}")
    assert api_client.get(mine).json() == []
    api_client.credentials()
    assert api_client.get(mine).status_code == 401
    api_client.force_login(learner)
    assert api_client.get(url("my_windows", course_id="junk")).status_code == 404


def test_throttling_uses_the_plugin_setting(api_client, course_staff, course_key, settings):
    settings.ACTIVATION_API_THROTTLE_RATES = {"user": "3/minute", "anon": "2/minute"}
    endpoint = url("definitions", course_id=course_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(course_staff)}")
    assert [api_client.get(endpoint).status_code for _ in range(4)] == [200, 200, 200, 429]
    throttled = api_client.get(endpoint)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0 and throttled.json()["message"]
    api_client.credentials()  # anonymous callers are refused (401) before any throttle; the schema is open
    schema = reverse("activation_plugin:api_v1:schema")
    assert [api_client.get(schema).status_code for _ in range(3)] == [200, 200, 429]
