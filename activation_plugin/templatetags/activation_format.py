"""Formatting of figures in templates."""
from django import template
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from activation_plugin import configs, prompts

register = template.Library()


@register.filter
def activation_condition(config):
    """A survey's activation condition in the words the learner page, REST and the docs use."""
    return configs.describe_condition(config)


@register.filter
def metric_name(config):
    """A metric requirement's KPI as people read it: its label and unit, never the source's key alone."""
    return configs.metric_name_with_unit(config)


@register.filter
def placeholders_filled(text, course_title):
    """
    A prompt's text where instructors read it outside a preview: the course's name filled in, and the
    placeholders that differ per learner said in words, so none shows as ``{course_name}``.
    """
    return prompts.render(text, {
        "course_name": course_title, "learner_name": _("[the learner's name]"),
        "deadline": _("[the window's last day]"), "link": _("[the link to their page]"),
        "behavior": _("[the behaviour]"),
    })


@register.filter
def strength_names(tag):
    """A window's comma-fenced strengths (``",staff,supervisor,"``) as their names: "Staff-verified, …"."""
    from activation_plugin.models import Evidence  # pylint: disable=import-outside-toplevel

    names = dict(Evidence.Strength.choices)
    return ", ".join(str(names.get(strength, strength)) for strength in tag.split(",") if strength)


@register.filter
def percent(value, digits=1):
    """
    0.2345 -> '23.5 %'; None (nothing to report yet) -> an em dash. Rounded here because Django's
    number_format cuts floats off (1/6 would read 16.6 %).
    """
    if value is None:
        return "—"
    return f"{number_format(round(value * 100, int(digits)), int(digits))} %"


@register.filter
def percent_level(value):
    """A confidence level as the interval's name says it: 0.975 -> '97.5%', 0.98333 -> '98.33%', 0.99 -> '99%'."""
    rounded = round(value * 100, 2)
    digits = next(places for places in (0, 1, 2) if round(rounded, places) == rounded)
    return f"{number_format(rounded, digits)}%"


@register.filter
def points(value, digits=1):
    """A difference of two rates in percentage points, signed: 0.112 -> '+11.2 points'."""
    if value is None:
        return "—"
    rounded = round(value * 100, int(digits))
    sign = "+" if rounded > 0 else ""
    return _("%(value)s points") % {"value": f"{sign}{number_format(rounded, int(digits))}"}


@register.filter
def signed(value, digits=2):
    """A change in a KPI's own unit, signed: -12.345 -> '-12.35'."""
    if value is None:
        return "—"
    rounded = round(value, int(digits))
    return f"{'+' if rounded > 0 else ''}{number_format(rounded, int(digits))}"


@register.filter
def decimal(value, digits=1):
    if value is None:
        return "—"
    return number_format(round(value, int(digits)), int(digits))


@register.filter
def number(value):
    """A measured value as people write it: 310.0 -> '310', 12.3456 -> '12.346' (localised)."""
    if value is None:
        return "—"
    rounded = round(value, 3)
    digits = next(places for places in (0, 1, 2, 3) if round(rounded, places) == rounded)
    return number_format(rounded, digits)


@register.filter
def pvalue(value):
    """'p = 0.012', or 'p < 0.001' where more digits would claim precision the test does not have."""
    if value is None:
        return "—"
    if value < 0.001:
        return f"p < {number_format(0.001, 3)}"
    return f"p = {number_format(round(value, 3), 3)}"


@register.filter
def get(mapping, key):
    """``row|get:label_key``: a row's field named by a variable (templates cannot index with one)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def run_label(course_run):
    """``definition.course_key|run_label``: the run's name for people, its key kept for exports and markup."""
    from activation_plugin.dashboard import presentation  # pylint: disable=import-outside-toplevel

    return presentation.run_label(course_run)


@register.simple_tag
def min_cell_size():
    """The smallest group whose figures are shown (``ACTIVATION_MIN_CELL_SIZE``)."""
    return settings.ACTIVATION_MIN_CELL_SIZE


@register.inclusion_tag("activation_plugin/_header.html", takes_context=True)
def activation_header(context):
    """
    Every page's header: the course's name, the way back to the LMS (the instructor dashboard for
    its staff, the course for learners), the portfolio for those whose role covers one, and
    sign-out. Pages without a course (the supervisor's link, the opt-out) show only the platform's name.
    """
    from activation_plugin import platform  # pylint: disable=import-outside-toplevel

    request, course_key = context.get("request"), context.get("course_key")
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    root = getattr(settings, "LMS_ROOT_URL", "")
    staff = signed_in and course_key is not None and platform.is_course_staff(user, course_key)
    # Asked only on staff pages and pages without a course: a learner's page never links there.
    portfolio = signed_in and (staff or course_key is None) and platform.portfolio_orgs(user) != set()
    return {
        "portfolio": portfolio,
        "course_title": context.get("course_title") or "",
        "course_key": course_key, "staff": staff, "signed_in": signed_in,
        "platform_name": getattr(settings, "PLATFORM_NAME", "Open edX"),
        "dashboard_url": f"{root}/courses/{course_key}/instructor" if staff else "",
        "course_url": f"{root}/courses/{course_key}/course/" if course_key is not None and not staff else "",
        "logout_url": f"{root}/logout",  # the LMS signs out on a GET of /logout
    }


@register.inclusion_tag("activation_plugin/_standing.html")
def portfolio_standing(definition, figures):
    """
    Where the definition's course stands in its org's portfolio (``api.portfolio.course_standing``),
    below its headline on the definition page; nothing until enough courses are ranked.
    """
    from activation_plugin.api.portfolio import course_standing  # pylint: disable=import-outside-toplevel

    return {"standing": course_standing(definition, figures["summary"]["rate_suppressed"]),
            "definition": definition}
