"""Learner pages: the learner's activation windows in a course, and evidence submission."""
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from activation_plugin import api, links, platform
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.models import Evidence, EvidenceRequirement
from activation_plugin.views_common import course_key_or_404


@login_required
def learner_page(request, course_id):
    course_key = course_key_or_404(course_id)
    windows = api.learner_windows(request.user, course_key)
    return render(request, "activation_plugin/learner.html", {
        "course_key": course_key,
        "course_title": platform.course_title(course_key),
        "windows": windows,
        # One key per rendered form: a double click or a resubmitted page stores the evidence once.
        "submission_key": uuid.uuid4().hex,
    })


@login_required
@require_POST
def submit_evidence(request, course_id, window_id, requirement_id):
    course_key = course_key_or_404(course_id)
    try:
        window = api.learner_window(request.user, course_key, window_id)
        requirement = window.definition.requirements.get(pk=requirement_id)
    except (ActivationNotFound, EvidenceRequirement.DoesNotExist) as exc:
        raise Http404(str(exc)) from exc
    try:
        api.record_evidence(
            window=window, requirement=requirement, source=Evidence.Source.LEARNER,
            payload={"url": request.POST.get("url", ""), "text": request.POST.get("text", "")},
            idempotency_key=f"learner:{request.user.pk}:{request.POST.get('submission_key') or uuid.uuid4().hex}",
        )
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Thank you: your evidence was submitted."))
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
        try:
            api.opt_out(user_id, definition_id)
        except ActivationNotFound as exc:
            return render(request, "activation_plugin/opt_out.html", {"error": str(exc)}, status=404)
        done = True
    return render(request, "activation_plugin/opt_out.html", {"done": done, "all_definitions": definition_id is None})
