"""Staff review queue: filter submissions, open one, verify or reject it with a comment."""
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from activation_plugin import api, platform
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.learner.forms import whole_number
from activation_plugin.models import Evidence
from activation_plugin.views_common import course_key_or_404, staff_course_key


def _date(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


QUEUE_PAGE = 50


def answered_questions(evidence):
    """
    A survey's answers as the reviewer reads them: each question's text (answers are stored under
    the question's id), then the answer, a multiple choice joined; answers to questions no longer
    asked keep their id.
    """
    texts = {question["id"]: question["text"] for question in evidence.requirement.config.get("questions", [])}
    return [(texts.get(question, question), ", ".join(map(str, answer)) if isinstance(answer, list) else answer)
            for question, answer in evidence.payload.get("answers", {}).items()]


# The queue is read from an offset of (page - 1) × QUEUE_PAGE, which the database must hold (MariaDB's
# offset overflowed on a 21-digit page); further pages than this are empty and not worth a query.
MAX_PAGE = 100_000


def _page_number(raw):
    """
    The page asked for, 1 when none or a malformed one is; a page past ``MAX_PAGE`` names nothing (404).
    Only ASCII digits count: ``str.isdigit`` also accepts "²", which ``int`` refuses.
    """
    raw = raw or ""
    if not (raw.isascii() and raw.isdigit()):
        return 1
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_PAGE)) or int(digits) > MAX_PAGE:
        raise Http404(_("No such page."))
    return max(int(digits), 1)


@login_required
def review_queue(request, course_id):
    """
    Course staff's review queue, submitted evidence by default, filtered and paged by the query string;
    a filter the api refuses is a 404, like any URL that names nothing.
    """
    course_key = staff_course_key(request, course_id)
    filters = {
        "status": request.GET.get("status", Evidence.Status.SUBMITTED),
        "requirement_id": request.GET.get("requirement") if (request.GET.get("requirement") or "").isdigit() else None,
        "submitted_from": _date(request.GET.get("from")),
        "submitted_to": _date(request.GET.get("to")),
    }
    page_number = _page_number(request.GET.get("page"))
    try:
        queue, has_more = api.review_queue(course_key, **filters, limit=QUEUE_PAGE,
                                           offset=(page_number - 1) * QUEUE_PAGE)
    except ActivationRequestError as exc:
        raise Http404(str(exc)) from exc
    for evidence in queue:
        evidence.answered = answered_questions(evidence)
    query = request.GET.copy()
    query.pop("page", None)
    requirements = [requirement for definition in api.definitions_for_course(course_key)
                    for requirement in definition.requirements]
    return render(request, "activation_plugin/reviews.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "queue": queue,
        "filters": filters, "requirements": requirements, "statuses": [("", _("All")), *Evidence.Status.choices],
        "page_number": page_number, "has_more": has_more, "query": query.urlencode(),
        "invites": api.invites_for_course(course_key), "now": timezone.now(),
    })


@login_required
@require_POST
def review(request, course_id, evidence_id):
    """
    A staff verdict from the queue: the rubric's scores when the requirement has one (the pass mark
    decides), otherwise Verify or Reject. The form carries the version the reviewer read, so a verdict
    on evidence the learner has changed since is refused, not applied to the new text.
    """
    course_key = staff_course_key(request, course_id)
    try:
        evidence = api.evidence_in_course(course_key, evidence_id)
        criteria = request.POST.getlist("criterion")
        scores = {criterion: whole_number(request.POST.get(f"score-{index}", ""))
                  for index, criterion in enumerate(criteria)} if criteria else None
        api.staff_review(evidence, request.user, verdict=request.POST.get("verdict") or None, scores=scores,
                         comment=request.POST.get("comment", "").strip(),
                         version=_version(request.POST.get("version")))
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Your decision was recorded."))
    return redirect("activation_plugin:review_queue", course_id=str(course_key))


def _version(value):
    """The evidence version the staff member saw (its ``submitted_at``), from the review form."""
    moment = parse_datetime(value or "")
    if moment is None:
        raise ActivationRequestError(_("Reload the page: this form is out of date."), field="version")
    return moment


@login_required
def evidence_file(request, course_id, evidence_id):
    """An attachment, for its learner, its assigned peer reviewer and course staff; downloaded, never rendered."""
    course_key = course_key_or_404(course_id)
    try:
        evidence = api.evidence_in_course(course_key, evidence_id)
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
    assigned = evidence.peer_assignments.filter(reviewer=request.user, completed_at__isnull=True,
                                                due_at__gt=timezone.now()).exists()
    own = evidence.window.user_id == request.user.pk
    if not (own or assigned or platform.is_course_staff(request.user, course_key)):
        raise Http404("No such evidence.")
    if not evidence.file:
        raise Http404("No file.")
    return FileResponse(evidence.file.open("rb"), as_attachment=True,
                        filename=evidence.payload.get("file_name") or "attachment")


def _tell_how_the_resend_went(request, fresh):
    if fresh.mail_status == fresh.MailStatus.FAILED:
        messages.warning(request, _("A new link was made and the previous one no longer works, but it could "
                                    "not be emailed just now: it is sent again automatically within the hour."))
    else:
        messages.success(request, _("A new link was sent; the previous one no longer works."))


@login_required
@require_POST
def manage_invite(request, course_id, invite_id):
    """Staff resend (a fresh link; the old one stops working) or revoke a supervisor invitation."""
    course_key = staff_course_key(request, course_id)
    try:
        invite = api.invite_in_course(course_key, invite_id)
        if request.POST.get("action") == "revoke":
            api.revoke_invite(invite)
            messages.success(request, _("The invitation was withdrawn; its link no longer works."))
        else:
            fresh = api.resend_invite(invite)
            # The mail leaves when the request's transaction commits; staff are told how it went then.
            transaction.on_commit(lambda: _tell_how_the_resend_went(request, fresh))
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    return redirect("activation_plugin:review_queue", course_id=str(course_key))
