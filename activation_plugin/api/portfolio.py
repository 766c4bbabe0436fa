"""
Who sees which courses in the portfolio (``figures.portfolio``): global staff and members of
``ACTIVATION_PORTFOLIO_GROUP`` every org's, org-wide staff and instructors their orgs'.
"""
from django.utils.translation import gettext as _

from activation_plugin import platform
from activation_plugin.errors import NotAllowed
from activation_plugin.figures import portfolio as figures
from activation_plugin.models import ActivationDefinition


def portfolio_definitions(user):
    """
    The active definitions ``user`` may compare, by catalog course.

    Raises:
        NotAllowed: no role covers any org's portfolio.
    """
    orgs = platform.portfolio_orgs(user)
    if orgs is not None and not orgs:
        raise NotAllowed(_("Only global staff and org-wide staff or instructors may see the portfolio."))
    definitions = (ActivationDefinition.objects.filter(status=ActivationDefinition.Status.ACTIVE)
                   .order_by("catalog_course", "pk"))
    return [definition for definition in definitions if orgs is None or figures.org_of(definition) in orgs]


def runs_seen(user):
    """
    What ``user`` sees row by row, as ``figures.portfolio.portfolio`` asks it (``runs_seen``): None
    for global staff (every run), else the runs among those asked whose staff they are.
    """
    if platform.is_global_staff(user):
        return None
    return lambda course_runs: platform.course_staff_runs(user, course_runs)


def portfolio(user, filters=figures.Filters(), sort="rank", now=None):
    """
    The portfolio figures of the definitions ``user`` may see (``figures.portfolio.portfolio``),
    released over the learners they cannot see row by row as the course page releases them.
    """
    return figures.portfolio(portfolio_definitions(user), now=now, filters=filters, sort=sort,
                             runs_seen=runs_seen(user))


def course_standing(definition, own_rate_hidden, now=None):
    """
    Where the definition's course stands in its org's portfolio, for its instructors
    (``figures.portfolio.standing``), or None when too few courses are ranked or it would tell
    other courses' outcomes. ``own_rate_hidden``: the viewer's course page hides the rate.
    """
    return figures.standing(definition, now, own_rate_hidden)
