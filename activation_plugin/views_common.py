"""Shared guards for the plugin's pages."""
from django.core.exceptions import PermissionDenied
from django.http import Http404

from activation_plugin import api, platform
from activation_plugin.errors import ActivationNotFound, ActivationRequestError


def course_key_or_404(course_id):
    """A malformed course id in a URL is a page that does not exist, not a server error."""
    try:
        return api.parse_course_key(course_id)
    except ActivationRequestError as exc:
        raise Http404(str(exc)) from exc


def staff_course_key(request, course_id):
    """The course of an instructor page; anyone but its staff (and global staff) is refused."""
    course_key = course_key_or_404(course_id)
    if not platform.is_course_staff(request.user, course_key):
        raise PermissionDenied
    return course_key


def definition_or_404(course_key, definition_id):
    """
    A definition covering this course run, with its requirements, prompts and ``has_windows``
    (``api.definition_in_course``): an id from another course is a page that does not exist.
    """
    try:
        return api.definition_in_course(course_key, definition_id)
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
