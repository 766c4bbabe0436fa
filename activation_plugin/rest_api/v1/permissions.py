"""
Who may call what. Staff rights are per course run, answered by ``platform.is_course_staff``
(course staff and instructors, and global staff); learners reach only their own windows.
"""
from rest_framework.permissions import BasePermission

from activation_plugin import platform


class IsCourseStaff(BasePermission):
    """Staff of the course run in the URL. Anonymous callers are asked to authenticate first."""

    message = "Only course staff may use this endpoint."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return platform.is_course_staff(user, view.course_key)


class IsAuthenticatedLearner(BasePermission):
    """Any signed-in user, about their own data only: the views filter by ``request.user``."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated) and view.course_key is not None
