"""
The plugin's feature toggles (OEP-17), in one place so operators find every switch here and in
``docs/references/toggles.rst``.

The three switches are kill switches: off (no row, the default) the plugin runs; on, one part stops
without losing anything it can recover. They are waffle switches, not settings, so an operator turns
them in the Django admin of a running LMS without a deploy. The course tab's flag is a
``CourseWaffleFlag`` in the LMS (per-course overrides in the admin); ``platform.course_waffle_flag``
builds it, since that class lives in edx-platform.
"""
from edx_toggles.toggles import WaffleSwitch

from activation_plugin import platform

# .. toggle_name: activation_plugin.pause_outgoing_mail
# .. toggle_implementation: WaffleSwitch
# .. toggle_default: False
# .. toggle_description: Kill switch for the plugin's mail: follow-up prompts, reminders, nudges and
#   supervisor invitations. While it is on, the tick claims no message (due windows stay due and are
#   sent by the first tick after it is turned off) and a new supervisor invitation is stored but not
#   mailed (the tick mails it once the switch is off, without spending one of its attempts).
# .. toggle_use_cases: circuit_breaker
# .. toggle_creation_date: 2026-12-07
# .. toggle_tickets: issue 30 of this repository's tracker
PAUSE_OUTGOING_MAIL = WaffleSwitch("activation_plugin.pause_outgoing_mail", __name__)

# .. toggle_name: activation_plugin.pause_completion_receivers
# .. toggle_implementation: WaffleSwitch
# .. toggle_default: False
# .. toggle_description: Kill switch for the receivers of the platform's completion events (passing
#   grade, certificate). While it is on, they return at once: nothing is written inside the platform's
#   grade or certificate transaction and no window opens. The completions are not lost: the platform
#   keeps them, and ``activation_backfill`` opens their windows once the switch is off.
# .. toggle_use_cases: circuit_breaker
# .. toggle_creation_date: 2026-12-07
# .. toggle_warning: Run ``activation_backfill`` for the active definitions after turning it off,
#   or learners who completed meanwhile get no follow-up.
# .. toggle_tickets: issue 30 of this repository's tracker
PAUSE_COMPLETION_RECEIVERS = WaffleSwitch("activation_plugin.pause_completion_receivers", __name__)

# .. toggle_name: activation_plugin.pause_kpi_pulls
# .. toggle_implementation: WaffleSwitch
# .. toggle_default: False
# .. toggle_description: Kill switch for pulling KPI observations from operators' REST and Python
#   sources (the schedule and ``activation_pull_metrics``). While it is on, no source is contacted and
#   no cursor moves, so the first pull after it is turned off reads everything changed meanwhile.
#   Webhook pushes and CSV uploads are not affected.
# .. toggle_use_cases: circuit_breaker
# .. toggle_creation_date: 2026-12-07
# .. toggle_tickets: issue 30 of this repository's tracker
PAUSE_KPI_PULLS = WaffleSwitch("activation_plugin.pause_kpi_pulls", __name__)

# .. toggle_name: activation_plugin.hide_course_tab
# .. toggle_implementation: CourseWaffleFlag
# .. toggle_default: False
# .. toggle_description: Hides the Activation tab of the instructor dashboard (the MFE's tab and the
#   legacy dashboard's section). Turned on for everyone it hides the tab on the whole platform; a
#   course override hides it in one course, or, with the flag on, keeps it in one course. The pages
#   themselves stay reachable by their address for course staff; data and mail are unaffected.
# .. toggle_use_cases: opt_out
# .. toggle_creation_date: 2026-12-07
# .. toggle_tickets: issue 30 of this repository's tracker
HIDE_COURSE_TAB = platform.course_waffle_flag("activation_plugin.hide_course_tab", __name__)


def mail_paused():
    return PAUSE_OUTGOING_MAIL.is_enabled()


def receivers_paused():
    return PAUSE_COMPLETION_RECEIVERS.is_enabled()


def kpi_pulls_paused():
    return PAUSE_KPI_PULLS.is_enabled()


def tab_hidden(course_key):
    return HIDE_COURSE_TAB.is_enabled(course_key)
