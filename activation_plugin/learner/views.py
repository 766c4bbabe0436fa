"""Learner pages: the learner's activation windows in a course, and evidence submission."""
import hashlib
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from activation_plugin import api, configs, links, platform, rules
from activation_plugin.errors import ActivationInternalError, ActivationNotFound, ActivationRequestError
from activation_plugin.learner import forms
from activation_plugin.models import ActivationWindow, Evidence, EvidenceRequirement
from activation_plugin.views_common import course_key_or_404


def requirement_rows(requirements, window=None):
    """
    What the page shows for each requirement: the learner's response, whether it is met, its
    feedback, the form. Without a window it is what a new completer sees (the instructors' preview).
    """
    rows = []
    accepting = window is None or api.accepts_evidence(window, timezone.now())
    evidence = sorted(window.evidence.all(), key=lambda item: item.submitted_at, reverse=True) if window else []
    invites = window.supervisor_invites.all() if window else []
    for requirement in requirements:
        mine = [item for item in evidence if item.requirement_id == requirement.pk]
        current = next((item for item in mine if item.status != Evidence.Status.REJECTED), None)
        under_review = current is not None and api.project_is_settled(current)
        answers = current.payload.get("answers", {}) if current else {}
        questions = [
            {**question, "value": answers.get(question["id"], ""),
             "chosen": answers.get(question["id"]) if isinstance(answers.get(question["id"]), list) else
             [answers.get(question["id"])]}
            for question in requirement.config.get("questions", [])
        ]
        rows.append({
            "requirement": requirement,
            "current": current,
            "history": mine,
            "met": any(item.status == Evidence.Status.VERIFIED for item in mine),
            # Said before an answer and after one that does not count, in the words every page uses.
            "condition": configs.describe_condition(requirement.config)
            if configs.counts_some_answers_only(requirement.config) else "",
            # The latest answer was turned down and nothing newer is waiting: the learner's move.
            "rejected": bool(mine) and current is None,
            "questions": questions,
            "invites": [invite for invite in invites if invite.requirement_id == requirement.pk],
            "can_submit": accepting and requirement.kind in api.LEARNER_KINDS
            and not (requirement.kind == EvidenceRequirement.Kind.PROJECT and under_review),
        })
    return rows


def not_counted_message(requirement):
    """What a learner reads after an answer kept as a response, not as evidence of activation."""
    return _("Thanks — recorded. This answer does not count as applying the skill yet: {condition}").format(
        condition=configs.describe_condition(requirement.config))


def window_progress(window, now):
    """
    Everything the learner reads about one window besides its requirements: how many must be met
    (the definition's rule) and how many are, the days left, and which of the actions still make
    sense. Withdrawal is offered while the window is open; once it has ended or activated, asking
    to "stop taking part" means nothing, but erasing one's answers (the same withdrawal) must stay
    possible, so it is offered quietly as that.
    """
    definition = window.definition
    rows = requirement_rows(definition.requirements.all(), window)
    has_answers = any(row["history"] for row in rows)
    return {
        "window": window,
        "rows": rows,
        "total": len(rows),
        "needed": rules.required_count(definition.rule, definition.rule_count, len(rows)),
        "met": sum(row["met"] for row in rows),
        # Counted in calendar days, as the closing date shown next to it: 0 is its last day.
        "days_left": (timezone.localdate(window.closes_at) - timezone.localdate(now)).days,
        "accepting": any(row["can_submit"] for row in rows),
        "can_erase": window.state == ActivationWindow.State.OPEN or (
            window.state in (ActivationWindow.State.ACTIVATED, ActivationWindow.State.EXPIRED) and has_answers),
    }


@login_required
def learner_page(request, course_id):
    course_key = course_key_or_404(course_id)
    now = timezone.now()
    windows = [window_progress(window, now) for window in api.learner_windows(request.user, course_key)]
    if not windows and not platform.course_exists(course_key):
        # A mistyped or stale link. A course removed after the learner's windows opened still shows them:
        # what they sent is theirs to see.
        raise Http404("No such course.")
    return render(request, "activation_plugin/learner.html", {
        "course_key": course_key,
        "course_title": platform.course_title(course_key),
        "windows": windows,
        "peer_review_waiting": api.peer_review_waiting(request.user, course_key),
        # One key per rendered form: a double click or a resubmitted page stores the evidence once.
        "submission_key": uuid.uuid4().hex,
        "likert_scale": range(1, 6),
        "accepted_files": ",".join(settings.ACTIVATION_EVIDENCE_FILE_TYPES),
    })


def _own_requirement_or_404(request, course_id, window_id, requirement_id):
    """The learner's own window in this course and one of its requirements; anything else is a 404."""
    course_key = course_key_or_404(course_id)
    try:
        window = api.learner_window(request.user, course_key, window_id)
        return course_key, window, window.definition.requirements.get(pk=requirement_id)
    except (ActivationNotFound, EvidenceRequirement.DoesNotExist) as exc:
        raise Http404(str(exc)) from exc


@login_required
@require_POST
def submit_evidence(request, course_id, window_id, requirement_id):
    """
    The learner's answer to one requirement. The form's ``submission_key`` makes a double submit record
    once; when the database fails, the learner is told nothing was stored, to send it again.
    """
    course_key, window, requirement = _own_requirement_or_404(request, course_id, window_id, requirement_id)
    try:
        evidence = api.save_learner_response(
            window=window, requirement=requirement, payload=forms.payload_for(requirement, request.POST),
            file=request.FILES.get("file"),
            idempotency_key=f"learner:{request.user.pk}:{request.POST.get('submission_key') or uuid.uuid4().hex}",
        )
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    except ActivationInternalError:
        messages.error(request, _("We could not save your answer just now, and nothing was stored. "
                                  "Please send it again in a moment."))
    else:
        if evidence.status == Evidence.Status.NOT_MET:
            messages.info(request, not_counted_message(requirement))
        else:
            messages.success(request, _("Thank you: your answer was saved."))
    return redirect("activation_plugin:learner", course_id=str(course_key))


def opt_out(request, token):
    """
    The link in every prompt. GET asks for one click and POST applies it: mail scanners follow
    links, and must not unsubscribe anyone. No login needed; the signed token names the learner.
    """
    try:
        user_id, definition_id = links.read_opt_out_token(token)
    except ActivationRequestError as exc:
        return render(request, "activation_plugin/opt_out.html", {"error": str(exc)}, status=400)
    done = False
    if request.method == "POST":
        # Any valid link may widen the opt-out to every course: the learner asked for less mail.
        scope = None if request.POST.get("scope") == "all" else definition_id
        try:
            api.opt_out(user_id, scope)
        except ActivationNotFound as exc:
            return render(request, "activation_plugin/opt_out.html", {"error": str(exc)}, status=404)
        done = True
    return render(request, "activation_plugin/opt_out.html", {"done": done, "all_definitions": definition_id is None})


@login_required
@require_POST
def invite_supervisor(request, course_id, window_id, requirement_id):
    """The learner names a supervisor for an observation; the api emails them a signed link to confirm what they saw."""
    course_key, window, requirement = _own_requirement_or_404(request, course_id, window_id, requirement_id)
    try:
        invite = api.invite_supervisor(window, requirement, request.POST.get("email", ""))
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    else:
        # The mail leaves when the request's transaction commits; the learner is told how it went then.
        transaction.on_commit(lambda: _tell_how_the_invitation_went(request, invite))
    return redirect("activation_plugin:learner", course_id=str(course_key))


def _tell_how_the_invitation_went(request, invite):
    if invite.mail_status == invite.MailStatus.FAILED:
        messages.warning(request, _("Your invitation to {email} is saved, but it could not be emailed just now: "
                                    "it is sent again automatically within the hour.").format(email=invite.email))
    else:
        messages.success(request, _("We emailed {email} a link to confirm what they observed.").format(
            email=invite.email))


SUPERVISOR_POSTS_PER_HOUR = 10


def _too_many_attempts(request, token):
    """
    Count POSTs per link, and per client address those whose link does not verify, in the cache,
    before the link is even used; True past the hourly limits. A signed link cannot be guessed,
    so only unverifiable ones count against an address: someone else's bad attempts behind the
    same address (a company's NAT) cannot lock a supervisor out of their valid link.
    """
    limits = {f"activation:observe:link:{hashlib.sha256(token.encode()).hexdigest()[:32]}": SUPERVISOR_POSTS_PER_HOUR}
    try:
        links.read_supervisor_token(token)
    except ActivationRequestError:
        limits[f"activation:observe:ip:{request.META.get('REMOTE_ADDR', '')}"] = SUPERVISOR_POSTS_PER_HOUR * 5
    limited = False
    for key, limit in limits.items():
        cache.add(key, 0, timeout=3600)
        limited |= cache.incr(key) > limit
    return limited


def observe(request, token):
    """
    The supervisor's page: no login, the signed single-use link is the authority. It shows the
    learner's name, the behaviour and the checklist, nothing else about the learner.
    """
    if request.method == "POST" and _too_many_attempts(request, token):
        return render(request, "activation_plugin/observe.html", {
            "error": _("Too many attempts. Please wait a few minutes and try again.")}, status=429)
    try:
        invite = api.invite_for_link(token, request.user)
    except ActivationRequestError as exc:
        return render(request, "activation_plugin/observe.html", {"error": str(exc)}, status=400)
    checklist = invite.requirement.config["checklist"]
    if request.method == "POST":
        observed = {item: request.POST.get(f"item-{index}") == "observed" for index, item in enumerate(checklist)}
        try:
            api.record_supervisor_observation(token, observed, request.POST.get("comment", ""), observer=request.user)
        except (ActivationRequestError, ActivationNotFound) as exc:
            return render(request, "activation_plugin/observe.html", {"error": str(exc)}, status=400)
        return render(request, "activation_plugin/observe.html", {"done": True})
    return render(request, "activation_plugin/observe.html", {
        "learner_name": api.sender_name(invite.window.user),
        "course_name": platform.course_title(invite.window.course_run),
        "behavior": invite.window.definition.behavior,
        "checklist": list(enumerate(checklist)),
    })


@login_required
def peer_review(request, course_id):
    """
    Volunteer peer review: one assigned submission at a time, shown without its author's name,
    scored against the requirement's rubric.
    """
    course_key = course_key_or_404(course_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "request":
                if api.request_peer_assignment(request.user, course_key) is None:
                    messages.info(request, _("No project needs a review right now. Thank you for offering!"))
            else:
                rubric = request.POST.getlist("criterion")
                scores = {criterion: forms.whole_number(request.POST.get(f"score-{index}", ""))
                          for index, criterion in enumerate(rubric)} if rubric else None
                api.submit_peer_review(forms.whole_number(request.POST.get("assignment", "")), request.user,
                                       scores=scores, verdict=request.POST.get("verdict"),
                                       comment=request.POST.get("comment", ""))
                messages.success(request, _("Thank you: your review was sent to the learner."))
        except ActivationNotFound as exc:
            raise Http404(str(exc)) from exc
        except ActivationRequestError as exc:
            messages.error(request, str(exc))
        return redirect("activation_plugin:peer_review", course_id=str(course_key))
    assignment = api.current_peer_assignment(request.user, course_key)
    return render(request, "activation_plugin/peer_review.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "assignment": assignment,
        "rubric": list(enumerate(assignment.evidence.requirement.config.get("rubric", []))) if assignment else [],
    })


@login_required
@require_POST
def withdraw(request, course_id, window_id):
    """
    The learner withdraws consent to one follow-up: while it is open they stop taking part, once it
    has ended or activated they erase their answers. Both are the same erasure, kept always possible.
    """
    course_key = course_key_or_404(course_id)
    try:
        api.withdraw_window(request.user, course_key, window_id)
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, _("Your answers for this follow-up were erased: you are no longer counted in it "
                                "and will get no more messages about it."))
    return redirect("activation_plugin:learner", course_id=str(course_key))
