"""
Follow-up prompts: when each prompt and reminder of a window falls due, and its message text.
Pure functions; ``api.send_due_prompts`` does the claiming and sending.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

if TYPE_CHECKING:  # for the annotation only: the functions here stay pure, free of database imports
    from activation_plugin.models import FollowUpPrompt

PLACEHOLDER = re.compile(r"\{(\w+)\}")
RETRY_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class DueMessage:
    """One prompt or reminder of one window; ``key`` is its at-most-once identity."""

    prompt: "FollowUpPrompt"
    kind: str
    sequence: int
    due_at: datetime

    @property
    def key(self):
        return (self.prompt.pk, self.kind, self.sequence)


def schedule(opened_at, prompts, observed_at=None):
    """
    Every message a window's learner may receive: each prompt on its day, then its reminders.
    A KPI nudge is due when the first KPI of its metric measured after completion arrived
    (``observed_at``: metric, or "" for any, to that arrival time).
    """
    observed_at = observed_at or {}
    messages = []
    for prompt in prompts:
        if prompt.condition == "metric_observed":
            arrived = observed_at.get(prompt.metric)
            if arrived is not None:
                messages.append(DueMessage(prompt, "nudge", 0, max(arrived, opened_at)))
            continue
        messages.append(DueMessage(prompt, "prompt", 0, opened_at + timedelta(days=prompt.send_after_days)))
        messages.extend(
            DueMessage(prompt, "reminder", number, opened_at + timedelta(days=day))
            for number, day in enumerate(prompt.reminder_days, start=1)
        )
    return sorted(messages, key=lambda message: message.due_at)


def pending(messages, delivered_keys, responded_requirement_ids):
    """
    Messages not yet claimed. Once the learner answered a requirement its reminders stop, and so
    does everything from a prompt sent only to those who have not responded.
    """
    def answered(message):
        return message.prompt.requirement_id in responded_requirement_ids and (
            message.kind == "reminder" or message.prompt.condition == "no_evidence")
    return [message for message in messages if message.key not in delivered_keys and not answered(message)]


def split_catch_up(due):
    """
    Of the messages due at once (a late tick, a window opened in the past), send only the latest
    of each prompt; the older ones are recorded as skipped so the learner gets one message, not a burst.
    """
    latest = {}
    for message in due:
        if message.prompt.pk not in latest or message.due_at >= latest[message.prompt.pk].due_at:
            latest[message.prompt.pk] = message
    send = list(latest.values())
    return send, [message for message in due if message not in send]


def render(template, values):
    """Fill ``{placeholder}``s; unknown ones stay as written so a typo is visible, never an error."""
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), template)


def compose_parts(prompt, values, language):
    """
    ``(subject, body, footer)`` of one message in the learner's language: the instructor's text
    filled in, and the opt-out footer every message carries. The mail's text part joins them as
    ``compose`` does; its HTML part sets the footer apart under the body.
    """
    subject, body = prompt.text_for(language)
    with translation.override(language):
        footer = _("You receive this because you completed {course_name}. "
                   "To stop these messages: {opt_out_link}")
    return render(subject, values), render(body, values), render(footer, values)


def as_text(body, footer):
    """A message's plain text: the body, then the footer after the usual signature line."""
    return f"{body}\n\n-- \n{footer}" if footer else body


def compose(prompt, values, language):
    """
    ``(subject, text)`` of one message as the learner receives it, in their language, with the
    opt-out footer every message carries. The configuration page's preview shows exactly this.
    """
    subject, body, footer = compose_parts(prompt, values, language)
    return subject, as_text(body, footer)


def local_date(value, language):
    """A date as the reader writes it (``26 novembre 2026``), in the platform's time zone, not ISO."""
    with translation.override(language):
        return date_format(timezone.localtime(value), "DATE_FORMAT")
