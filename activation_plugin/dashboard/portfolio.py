"""
The portfolio page (``/activation/portfolio/``) and its CSV: every course a viewer's org-wide role
covers, side by side, with a funnel plot drawn on the server as inline SVG (no script).
"""
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from activation_plugin import api, platform
from activation_plugin.dashboard.exports import _csv
from activation_plugin.dashboard.presentation import segment_tables
from activation_plugin.errors import NotAllowed
from activation_plugin.models import Evidence

# The plot's drawing area, in SVG units, inside margins for the axes' labels.
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 360, 56, 40, 12, 16


class PortfolioFilterForm(forms.Form):
    """The page's filters, from the query string; a bad value is named on the page (400), never ignored."""

    org = forms.CharField(required=False, max_length=255, label=_("Organization"))
    course = forms.CharField(required=False, max_length=255, label=_("Course"))
    since = forms.DateField(required=False, label=_("Runs started from"),
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("Runs started before"),
                            widget=forms.DateInput(attrs={"type": "date"}))
    strength = forms.ChoiceField(required=False, label=_("Count activations backed by"),
                                 choices=[("", _("any evidence")), *Evidence.Strength.choices])
    sort = forms.ChoiceField(required=False, label=_("Sort by"), choices=[
        ("rank", _("rank (shrunken rate)")), ("rate", _("raw rate")), ("eligible", _("learners")),
        ("change", _("change since the previous run")), ("course", _("course"))])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] >= cleaned["until"]:
            raise forms.ValidationError(_("The period must start before it ends."))
        return cleaned

    def filters(self):
        data = self.cleaned_data
        return api.PortfolioFilters(org=data["org"] or None, course=data["course"] or None, since=data["since"],
                                    until=data["until"], strength=data["strength"] or None)


def _portfolio_or_403(request, form):
    try:
        return api.portfolio(request.user, form.filters(), form.cleaned_data["sort"] or "rank")
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc


def _x(n, largest):
    return LEFT + (WIDTH - LEFT - RIGHT) * n / largest


def _y(rate, top):
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - rate / top)


def funnel_plot(figures):
    """
    The funnel plot's geometry: each shown course at (learners whose window ended, rate), the
    portfolio's rate, and its 95 % and 99.8 % limits as polylines. None when there is nothing to plot.
    """
    points = [row for row in figures["rows"] if row["rate"] is not None and row["position"] is not None]
    if not points or not figures["limits"]:
        return None
    largest = max(row["eligible"] for row in points) * 1.05
    top = min(1.0, max(max(row["rate"] for row in points), max(point["high_0.95"] for point in figures["limits"]
                                                               if point["n"] >= 5)) * 1.1) or 1.0

    def line(key):
        return " ".join(f"{_x(point['n'], largest):.1f},{_y(min(point[key], top), top):.1f}"
                        for point in figures["limits"])

    pooled = figures["pooled"]["rate"]
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM,
        "pooled_y": f"{_y(pooled, top):.1f}",
        "lines": [{"points": line(f"{side}_{level}"), "level": level}
                  for level in ("0.95", "0.998") for side in ("low", "high")],
        "points": [{"x": f"{_x(row['eligible'], largest):.1f}", "y": f"{_y(row['rate'], top):.1f}", "row": row}
                   for row in points],
        "y_ticks": [{"y": f"{_y(tick, top):.1f}", "rate": tick} for tick in _ticks(top)],
        "x_ticks": [{"x": f"{_x(tick, largest):.1f}", "n": tick} for tick in _ticks(largest, whole=True)],
    }


def _ticks(top, whole=False):
    """About five round ticks from 0 to ``top``."""
    steps = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000,
             50000, 100000)
    step = next(step for step in steps if top / step <= 6 and (not whole or step >= 1))
    count = int(top / step) + 1
    return [round(step * index) if whole else round(step * index, 2) for index in range(count)]


def _sort_urls(request):
    """``{sort: query string}``: the table's headers sort by their column, keeping the filters."""
    urls = {}
    for sort in api.PORTFOLIO_SORTS:
        query = request.GET.copy()
        query["sort"] = sort
        urls[sort] = f"?{query.urlencode()}"
    return urls


def _filter_form(request):
    """The filters asked for, once the caller is known to see some portfolio (403 first, then 400)."""
    if platform.portfolio_orgs(request.user) == set():
        raise PermissionDenied
    form = PortfolioFilterForm(request.GET)
    return form, form.is_valid()


@login_required
def portfolio_page(request):
    """The portfolio for whoever's role covers several courses; hostile filters are a 400, never an error."""
    form, valid = _filter_form(request)
    if not valid:
        return render(request, "activation_plugin/portfolio.html", {"form": form}, status=400)
    figures = _portfolio_or_403(request, form)
    for row in figures["rows"]:
        row["title"] = platform.course_title(api.parse_course_key(row["course_key"]))
        row["strengths_shown"] = [(label, (row["strength_mix"] or {}).get(strength))
                                  for strength, label in Evidence.Strength.choices
                                  if (row["strength_mix"] or {}).get(strength)]
    return render(request, "activation_plugin/portfolio.html", {
        "form": form, "figures": figures, "plot": funnel_plot(figures), "query": request.GET.urlencode(),
        "sorted_by": form.cleaned_data["sort"] or "rank", "sort_urls": _sort_urls(request),
        "segment_tables": segment_tables(figures["segments"], {}),
    })


@login_required
def export_portfolio(request):
    form, valid = _filter_form(request)
    if not valid:
        return render(request, "activation_plugin/portfolio.html", {"form": form}, status=400)
    return _csv(api.portfolio_csv_rows(_portfolio_or_403(request, form)), "activation-portfolio.csv")
