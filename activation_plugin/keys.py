"""Course keys as the plugin uses them: parsed with a clear error, and grouped by catalog course."""
from django.utils.translation import gettext as _
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey

from activation_plugin.errors import ActivationRequestError


def parse_course_key(value):
    """
    A ``CourseKey`` from a key or its string form.

    Raises:
        ActivationRequestError: the value is not a course key.
    """
    if isinstance(value, CourseKey):
        return value
    try:
        return CourseKey.from_string(str(value))
    except InvalidKeyError as exc:
        raise ActivationRequestError(_("{value} is not a valid course key.").format(value=repr(value)),
                                     field="course_key") from exc


def catalog_course(course_key):
    """The ``org+course`` part shared by every run of a course."""
    return f"{course_key.org}+{course_key.course}"


def is_ccx(course_key):
    """Whether the key names a CCX (``ccx-v1:…``), a run of its own built on a master course."""
    return getattr(course_key, "ccx", None) is not None
