"""
The plugin's refusals as pages in its own layout. The LMS has no styled 403 (Django's bare
"403 Forbidden" shows) and its 404 knows nothing of the plugin: a learner who follows an
instructor's link, or anyone a stale course link, should learn where they are and where to go.
"""
import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from activation_plugin import api, platform
from activation_plugin.errors import ActivationRequestError


def in_plugin_layout(view):
    """Answer the view's 403 and 404 with the plugin's error page, status kept."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return _error_page(request, kwargs.get("course_id"), 403, reason=str(exc))
        except Http404:
            return _error_page(request, None, 404)
    return wrapper


def _error_page(request, course_id, status, reason=""):
    """
    A 404 names no course (the course may be what does not exist); a 403 keeps the course's header.
    A refusal in a course the platform does not have is a 404: a mistyped link, not a lack of rights.
    """
    course_key = None
    if course_id is not None:
        try:
            course_key = api.parse_course_key(course_id)
        except ActivationRequestError:
            pass
    if status == 403 and course_key is not None and not platform.course_exists(course_key):
        course_key, status, reason = None, 404, ""
    return render(request, "activation_plugin/error.html",
                  {"status": status, "reason": reason, "course_key": course_key}, status=status)
