"""URLs of the demo host; plugin URLs come from edx-django-utils, as in lms/urls.py."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from edx_django_utils.plugins import get_plugin_url_patterns

from demo import fake_kpi, views
from demo.settings import PROJECT_TYPE

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("logout", views.sign_out),  # as the LMS: a GET signs out (the plugin's pages link here)
    path("admin/", admin.site.urls),
    path("outbox/", views.outbox, name="outbox"),
    path("fake-helpdesk/api/tickets/", fake_kpi.tickets, name="fake_kpi_tickets"),
    re_path(r"^courses/(?P<course_id>[^/]+)/instructor/$", views.instructor_dashboard, name="instructor_dashboard"),
    *get_plugin_url_patterns(PROJECT_TYPE),
]
