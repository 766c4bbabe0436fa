"""Shared guards for the plugin's pages."""
from django.http import Http404

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError


def course_key_or_404(course_id):
    """A malformed course id in a URL is a page that does not exist, not a server error."""
    try:
        return api.parse_course_key(course_id)
    except ActivationRequestError as exc:
        raise Http404(str(exc)) from exc
