"""
KPI pages: the data-quality view of a course with its CSV upload (preview, then an all-or-nothing
commit) and, for the platform's global staff, every declared source with its match report and a
test run. Thin: ``kpi`` parses and fetches, the api reads and writes; a GET writes nothing.
"""
import hashlib
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from activation_plugin import api, platform
from activation_plugin.api import metric_sources
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import csv_import, pull, sources, trial
from activation_plugin.views_common import global_staff_or_403, staff_course_key

UPLOAD_SALT = "activation_plugin.kpi.csv-upload"
UPLOAD_MAX_AGE = int(api.KPI_UPLOAD_MAX_AGE.total_seconds())


def _upload_targets(request, course_key):
    """The CSV sources this user may upload to for this course: all of them for global staff."""
    return [config for config in sources.declared(skip_invalid=True).values() if config.kind == "csv" and (
        platform.is_global_staff(request.user) or sources.uploadable(config, course_key))]


def _course_learners(request, course_key):
    """
    Whom course staff may link ids to and upload observations about: their run's completers,
    as roles are per run (global staff: anyone).
    """
    if platform.is_global_staff(request.user):
        return None
    return api.windows_in_course(course_key).order_by().values("user_id")


def _page(request, course_key, **extra):
    catalog = api.catalog_course(course_key)
    figures = []
    for config in sources.declared(skip_invalid=True).values():
        figures.append(api.source_figures(api.declared_source_state(config), catalog_course=catalog))
    return render(request, "activation_plugin/kpi.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "figures": figures,
        "targets": _upload_targets(request, course_key), "kinds": csv_import.KINDS, **extra,
    })


@login_required
def course_kpi(request, course_id):
    return _page(request, staff_course_key(request, course_id))


def _target(request, course_key, name):
    config = next((config for config in _upload_targets(request, course_key) if config.name == name), None)
    if config is None:
        raise Http404("No CSV source you may upload to.")
    return metric_sources.sync_metric_source(config)


def _digest(path):
    sha = hashlib.sha256()
    with default_storage.open(path, "rb") as stored:
        for chunk in iter(lambda: stored.read(1024 * 1024), b""):
            sha.update(chunk)
    return sha.hexdigest()


@login_required
@require_POST
def kpi_preview(request, course_id):
    """Store the upload under a generated name and show what committing it would do; writes nothing else."""
    course_key = staff_course_key(request, course_id)
    source = _target(request, course_key, request.POST.get("source", ""))
    kind = request.POST.get("kind", "observations")
    upload = request.FILES.get("file")
    if kind not in csv_import.KINDS or upload is None:
        messages.error(request, _("Choose a CSV file and what it contains."))
        return redirect("activation_plugin:kpi", course_id=str(course_key))
    if upload.size > settings.ACTIVATION_METRIC_CSV_MAX_MB * 1024 * 1024:
        messages.error(request, _("The file is larger than %(mb)s MB.") % {"mb": settings.ACTIVATION_METRIC_CSV_MAX_MB})
        return redirect("activation_plugin:kpi", course_id=str(course_key))
    # api.files sweeps the uploads that are never committed.
    path = default_storage.save(f"{api.KPI_UPLOAD_DIR}/{uuid.uuid4().hex}.csv", File(upload))
    try:
        with default_storage.open(path, "rb") as stored:
            report = csv_import.preview(source, stored, kind, _course_learners(request, course_key))
    except ActivationRequestError as exc:
        default_storage.delete(path)
        messages.error(request, str(exc))
        return redirect("activation_plugin:kpi", course_id=str(course_key))
    token = signing.dumps({"path": path, "sha256": _digest(path), "source": source.name, "kind": kind,
                           "user": request.user.pk, "course": str(course_key)}, salt=UPLOAD_SALT)
    committable = report["error_count"] == 0 and not report.get("blocked")
    return _page(request, course_key, preview=report, token=token if committable else "",
                 preview_source=source.name)


@login_required
@require_POST
def kpi_commit(request, course_id):
    """All or nothing: the file's rows are stored in one transaction (the api's), or none is."""
    course_key = staff_course_key(request, course_id)
    try:
        upload = signing.loads(request.POST.get("token", ""), salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, _("This preview has expired; upload the file again."))
        return redirect("activation_plugin:kpi", course_id=str(course_key))
    if upload["user"] != request.user.pk or upload["course"] != str(course_key):
        raise PermissionDenied
    source = _target(request, course_key, upload["source"])
    if not default_storage.exists(upload["path"]) or _digest(upload["path"]) != upload["sha256"]:
        messages.error(request, _("This preview has expired; upload the file again."))
        return redirect("activation_plugin:kpi", course_id=str(course_key))
    try:
        with default_storage.open(upload["path"], "rb") as stored:
            if upload["kind"] == "links":
                learners = _course_learners(request, course_key)
                rows = csv_import.link_rows(stored, learners)
                allowed = None if learners is None else learners.values_list("user_id", flat=True)
                result = api.link_identities(source, rows, allowed_users=allowed)
                done = _("%(linked)s ids linked; %(relinked)s observations re-matched.") % result
            else:
                learners = _course_learners(request, course_key)
                result = api.ingest_observations(
                    source, csv_import.observation_records(stored), strict=True,
                    learners=None if learners is None else set(learners.values_list("user_id", flat=True)))
                done = _("%(stored)s observations stored, %(updated)s corrected, "
                         "%(duplicates)s already there.") % result
    except ActivationRequestError as exc:
        messages.error(request, _("Nothing was stored: %(error)s") % {"error": exc})
    else:
        default_storage.delete(upload["path"])
        messages.success(request, done)
    return redirect("activation_plugin:kpi", course_id=str(course_key))


@login_required
@require_POST
def try_source(request, name):
    """Operators' "test this source": the whole pull read and checked, nothing stored (``trial.try_source``)."""
    global_staff_or_403(request)
    if name not in pull.pulled_names():
        raise Http404("No rest or python source of that name.")
    return kpi_sources(request, tried={"name": name, **trial.try_source(name)})


@login_required
def kpi_sources(request, tried=None):
    """Operators' view: every declared source, its health and its match report."""
    global_staff_or_403(request)
    rows, problems = [], []
    for name in (getattr(settings, "ACTIVATION_METRIC_SOURCES", {}) or {}):
        try:
            config = sources.get(name)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
            continue
        source = api.declared_source_state(config)
        rows.append({**api.source_figures(source), **api.source_match_report(source), "config": config})
    return render(request, "activation_plugin/kpi_sources.html", {
        "rows": rows, "problems": problems, "tried": tried, "pulled_kinds": pull.PULLED_KINDS,
        "try_max_pages": trial.TRY_MAX_PAGES})
