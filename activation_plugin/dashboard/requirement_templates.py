"""
Starting points for the evidence requirements instructors ask for most: a reviewed project, a
short transfer survey, a supervisor's checklist, a KPI threshold. Each is an ordinary spec the
instructor edits before saving, written in the instructor's language when it is added.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


def _prompt(send_after_days, reminder_days, subject, body):
    return {"condition": "always", "send_after_days": send_after_days, "reminder_days": reminder_days,
            "subject": subject, "body": body}


def project_with_rubric():
    return {
        "kind": "project", "title": _("Applied project"), "verification": "staff", "reviews_required": 1,
        "config": {
            "instructions": _("Describe one situation at work where you applied what the course taught: what you "
                              "did, what happened, and what you would do differently. Add a link or a file if you "
                              "have one."),
            "rubric": [{"criterion": _("Describes a real situation at work"), "max_score": 2},
                       {"criterion": _("Applies the method the course taught"), "max_score": 3},
                       {"criterion": _("Reflects on the result"), "max_score": 1}],
            "peer_rule": "majority", "pass_ratio": 0.6,
        },
        "prompts": [_prompt(7, [14, 28], _("How have you applied {course_name}?"),
                            _("Hello {learner_name},\n\nYou completed {course_name}. Tell us about one situation "
                              "where you put it into practice, by {deadline}:\n{link}"))],
    }


def transfer_survey():
    """Only a "yes" means applied: "Not yet" is kept as a response, and confidence alone is not use."""
    used = [_("Yes, several times"), _("Yes, once")]
    return {
        "kind": "survey", "title": _("Did you apply it?"), "verification": "none", "reviews_required": 1,
        "config": {"questions": [
            {"id": "q1", "type": "single_choice", "text": _("Have you used what you learned in your work?"),
             "options": [*used, _("Not yet")], "required": True},
            {"id": "q2", "type": "likert", "text": _("How confident are you applying it?"), "required": True},
            {"id": "q3", "type": "text", "text": _("Describe one situation where you applied it."),
             "required": False},
        ], "activation_condition": {"match": "all", "answers": [{"question": "q1", "options": used}]}},
        "prompts": [_prompt(14, [28], _("Three questions about {course_name}"),
                            _("Hello {learner_name},\n\nTwo minutes to tell us whether {course_name} changed how "
                              "you work, by {deadline}:\n{link}"))],
    }


def supervisor_checklist():
    return {
        "kind": "observation", "title": _("Observed on the job"), "verification": "supervisor",
        "reviews_required": 1,
        "config": {"checklist": [_("Uses the method the course taught without being reminded"),
                                 _("Explains the choice to a colleague or a customer"),
                                 _("Applies it in a difficult situation")],
                   "min_observed": 2},
        "prompts": [_prompt(21, [35], _("Ask your supervisor to confirm what you applied"),
                            _("Hello {learner_name},\n\nHas your supervisor seen you apply {course_name}? Send "
                              "them a confirmation request from your page, by {deadline}:\n{link}"))],
    }


def kpi_threshold():
    return {
        "kind": "metric", "title": _("The KPI improves"), "verification": "none", "reviews_required": 1,
        "config": {"metric": "", "direction": "higher", "threshold": 0.1, "relative": True, "baseline_days": 30,
                   "period_days": 30, "min_observations": 2},
        "prompts": [],
    }


TEMPLATES = {
    "project": (gettext_lazy("Applied project with a rubric"), project_with_rubric),
    "survey": (gettext_lazy("Three-question transfer survey"), transfer_survey),
    "observation": (gettext_lazy("Supervisor's checklist"), supervisor_checklist),
    "metric": (gettext_lazy("KPI threshold"), kpi_threshold),
}


def template_spec(name):
    """The spec of the template ``name``, or None for a blank requirement."""
    return TEMPLATES[name][1]() if name in TEMPLATES else None
