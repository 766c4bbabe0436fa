"""
The course's landing figures, on the standalone page and in the legacy dashboard's section: each
definition's headline, which pools every run of the catalog course, with what it pools and how
the latest run did against the previous one (issue 32: both pages read 22.7 % for either run).
"""
from activation_plugin import api, platform


def course_overview(course_key, visible_runs=()):
    """
    ``[(definition, summary, runs)]``: ``api.course_summaries``, those with completers first (a
    hidden count is some), with, per definition, ``runs``: ``count`` and ``labels`` of the runs the
    headline pools, ``latest`` and ``previous`` (rate rows with a ``label``, or None), ``compared``
    (the two, latest first) and their ``difference`` (``api.latest_run_against_previous``), as a
    viewer who sees ``visible_runs`` row by row sees them (``api.runs_seen_by``).
    """

    overview = []
    # Those with completers first (newest first among each): a new version with nothing to show yet
    # was listed above every figure.
    summaries = sorted(api.course_summaries(course_key, visible_runs=visible_runs),
                       key=lambda pair: pair[1]["completers"] == 0)
    for definition, summary in summaries:
        runs = api.latest_run_against_previous(definition, visible_runs=visible_runs)
        names = platform.run_labels([row["course_run"] for row in runs["runs"]])
        latest, previous = _named(runs["latest"], names), _named(runs["previous"], names)
        overview.append((definition, summary, {
            "count": len(runs["runs"]), "labels": [_named(row, names)["label"] for row in runs["runs"]],
            "latest": latest, "previous": previous, "compared": [row for row in (latest, previous) if row],
            "difference": runs["difference"],
        }))
    return overview


def _named(row, names):
    """A run's rate row with the name people know the run by (``platform.run_labels``); None stays None."""
    return row and {**row, "label": names.get(row["course_run"], row["course_run"])}
