"""
Data-quality figures of KPI sources, read with aggregate queries: run health, match rate,
observations that fall in no window, dropped records, and the ids nobody could be matched to.
A source that never delivered (an unsaved row, ``declared_source_state``) has none of them.
"""
from django.db.models import Exists, OuterRef

from activation_plugin.api import identity
from activation_plugin.models import ActivationWindow, MetricObservation

REPORTED_IDS = 50


def _share(part, whole):
    return part / whole if whole else None


def source_figures(source, catalog_course=None):
    """
    Figures for one source; with ``catalog_course``, the observation figures cover only learners
    with a window in that course and "outside any window" means outside their windows there.
    """
    if source.pk is None:
        return {"source": source, "observations": 0, "matched": 0, "matched_share": None, "outside_windows": 0,
                "outside_share": None}
    observations = MetricObservation.objects.filter(source=source)
    windows = ActivationWindow.objects.filter(user_id=OuterRef("user_id"), opened_at__lte=OuterRef("observed_at"),
                                              closes_at__gte=OuterRef("observed_at"))
    if catalog_course:
        learners = ActivationWindow.objects.filter(definition__catalog_course=catalog_course).values("user_id")
        observations = observations.filter(user_id__in=learners)
        windows = windows.filter(definition__catalog_course=catalog_course)
    total = observations.count()
    matched = total if catalog_course else observations.filter(user__isnull=False).count()
    outside = observations.filter(user__isnull=False).exclude(Exists(windows)).count()
    return {
        "source": source, "observations": total, "matched": matched, "matched_share": _share(matched, total),
        "outside_windows": outside, "outside_share": _share(outside, matched),
    }


def match_report(source, limit=REPORTED_IDS, probe=2000):
    """
    The ids no learner could be matched to, and those several learners could be (the first
    ``limit`` of each, from the first ``probe`` unmatched ids), with the total unmatched count.
    """
    if source.pk is None:
        return {"unmatched_count": 0, "unmatched": [], "ambiguous": []}
    unmatched = MetricObservation.objects.filter(source=source, user__isnull=True)
    count = unmatched.values("external_id").distinct().count()
    ids = list(unmatched.order_by("external_id").values_list("external_id", flat=True).distinct()[:probe])
    _matched, ambiguous = identity.resolve(source, ids)
    return {"unmatched_count": count, "unmatched": [i for i in ids if i not in ambiguous][:limit],
            "ambiguous": sorted(ambiguous)[:limit]}
