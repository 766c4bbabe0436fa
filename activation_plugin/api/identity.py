"""
Which learner an external id belongs to, by the methods of ``ACTIVATION_IDENTITY_ORDER``.

A method that finds exactly one learner settles the id; one that finds several makes the id
*ambiguous*, and it stays unmatched rather than risk giving one person's figures to another.
Reads only: the api records the results.
"""
from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models.functions import Lower

from activation_plugin.models import IdentityLink

METHODS = ("explicit", "email", "username")


def order():
    methods = list(getattr(settings, "ACTIVATION_IDENTITY_ORDER", METHODS))
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ImproperlyConfigured(f"ACTIVATION_IDENTITY_ORDER: unknown methods {', '.join(sorted(unknown))}; "
                                   f"use {', '.join(METHODS)}.")
    return methods


def _explicit(source, external_ids):
    candidates = defaultdict(set)
    for external_id, user_id in IdentityLink.objects.filter(
            source=source, external_id__in=external_ids, method=IdentityLink.Method.EXPLICIT,
    ).values_list("external_id", "user_id"):
        candidates[external_id].add(user_id)
    return candidates


def _email(source, external_ids):  # pylint: disable=unused-argument
    """Case-insensitive, as addresses are in practice; ``source`` is unused, but every finder in FINDERS takes it."""
    wanted = defaultdict(set)
    for external_id in external_ids:
        if "@" in external_id:
            wanted[external_id.lower()].add(external_id)
    if not wanted:
        return {}
    users = get_user_model().objects.filter(is_active=True)
    if connection.vendor == "mysql":
        # The LMS's case-insensitive collation folds case itself and keeps the email index usable.
        users = users.filter(email__in=set(wanted))
    else:
        users = users.annotate(email_folded=Lower("email")).filter(email_folded__in=set(wanted))
    candidates = defaultdict(set)
    for email, user_id in users.values_list("email", "pk"):
        for external_id in wanted.get(email.lower(), ()):
            candidates[external_id].add(user_id)
    return candidates


def _username(source, external_ids):  # pylint: disable=unused-argument
    candidates = defaultdict(set)
    for username, user_id in get_user_model().objects.filter(username__in=external_ids).values_list("username", "pk"):
        if username in external_ids:  # exact case, whatever the database collation
            candidates[username].add(user_id)
    return candidates


FINDERS = {"explicit": _explicit, "email": _email, "username": _username}


def resolve(source, external_ids):
    """
    ``(matched, ambiguous)``: ``{external_id: user_id}`` for ids one method settles, and the set of
    ids a method found several learners for. Ids in neither are unmatched.
    """
    remaining = set(external_ids)
    matched, ambiguous = {}, set()
    for method in order():
        if not remaining:
            break
        for external_id, users in FINDERS[method](source, remaining).items():
            if len(users) == 1:
                matched[external_id] = next(iter(users))
            else:
                ambiguous.add(external_id)
            remaining.discard(external_id)
    return matched, ambiguous
