"""
The dbt models for Aspects (activation_plugin/aspects/dbt) on the real ClickHouse engine (chdb):
statements made by the real ERB transformers from the plugin's events, loaded into Aspects' xAPI
table, give the figures of ``summarize`` and ``funnel_counts`` on the same data, as of one instant.
"""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api, portfolio_stats, stats
from activation_plugin.figures.headline import funnel_counts
from activation_plugin.models import ActivationDefinition, MetricSource, Review
from demo.models import DemoCourse
from tests.aspects_support import (
    MODELS,
    SupersetError,
    chart_queries,
    shrunken_tolerance,
    statements,
    superset_assets,
)
from tests.conftest import PROJECT
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff",
                 "prompts": [{"send_after_days": 0, "subject": "Hi", "body": "Show us: {link}"}]}


def rates_metrics():
    """The saved metrics of the rates dataset: what the dashboard computes over several runs."""
    [rates] = [asset for asset in superset_assets() if asset.get("table_name") == "activation_rates"]
    return {metric["metric_name"]: metric["expression"] for metric in rates["metrics"]}


def assert_same_figures(warehouse, definition, as_of):
    """The page's figures of a definition: rates summed over its runs, the curve of a run (all, if one)."""
    summary = api.summarize(definition, now=as_of)
    metrics = rates_metrics()
    [rate] = warehouse.rows(  # labels no metric reads: ClickHouse would take them for the columns
        f"SELECT sum(completers) AS `completers `, sum(eligible) AS `eligible `, sum(activated) AS `activated `, "
        f"sum(open) AS `open `, sum(open_activated) AS `open_activated `, {metrics['rate']} AS `rate `, "
        f"{metrics['rate_low']} AS `rate_low `, {metrics['rate_high']} AS `rate_high ` "
        f"FROM reporting.activation_rates WHERE definition_id = {definition.pk} AND breakdown = 'all'")
    rate = {label.strip(): value for label, value in rate.items()}
    assert (rate["completers"], rate["eligible"], rate["activated"], rate["open"], rate["open_activated"]) == (
        summary["completers"], summary["eligible"], summary["activated"], summary["open"], summary["open_activated"])
    assert rate["rate"] == pytest.approx(summary["rate"])
    assert (rate["rate_low"], rate["rate_high"]) == pytest.approx(summary["rate_ci"])
    curve = warehouse.rows(f"SELECT * FROM reporting.activation_km WHERE definition_id = {definition.pk} "
                           "ORDER BY course_key, day")
    at_start = {}  # each run's curve starts with all its windows at risk
    for row in curve:
        at_start.setdefault(row["course_key"], row["at_risk"])
    assert sum(at_start.values()) == summary["completers"]
    if len(at_start) == 1:
        assert [(row["day"], row["at_risk"], row["events"], row["censored"]) for row in curve] == [
            (point.day, point.at_risk, point.events, point.censored) for point in summary["km_curve"]]
        for row, point in zip(curve, summary["km_curve"]):
            assert (row["survival"], row["low"], row["high"]) == pytest.approx((point.survival, point.low, point.high))
        assert curve[0]["activated_by_window_end"] == pytest.approx(summary["km_rate"])
    funnel = {row["arm"]: row for row in warehouse.rows(
        "SELECT arm, sum(completed) AS completed, sum(prompted) AS prompted, sum(responded) AS responded, "
        f"sum(verified) AS verified, sum(activated) AS activated FROM reporting.activation_funnel "
        f"WHERE definition_id = {definition.pk} GROUP BY arm")}
    for arm, counts in funnel_counts(definition, as_of).items():
        if counts["completed"]:
            assert {stage: funnel[arm][stage] for stage in ("completed", "prompted", "activated")} == {
                stage: counts[stage] for stage in ("completed", "prompted", "activated")}, arm
            # Evidence rejected later still responded, or was verified, in the statements.
            assert funnel[arm]["responded"] >= counts["responded"] and funnel[arm]["verified"] >= counts["verified"]
    return summary, rate, curve


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # ids from 1: the holdout is drawn from them
def test_the_models_give_the_page_s_figures_through_reversal_withdrawal_and_retirement(
        erb, events, aspects, make_definition, course_key, staff_user, settings, mailoutbox):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # the page's figures unsuppressed, as the warehouse has them
    definition = make_definition(requirements=[STAFF_PROJECT], window_days=30, holdout_percent=30)
    [project] = definition.requirements.all()
    now = timezone.now()
    learners = UserFactory.create_batch(16)
    windows = []
    for number, learner in enumerate(learners):
        # Half the cohort's windows have ended; some opened at another time of day than now.
        opened = now - timedelta(days=45 - 3 * number, hours=number % 5)
        windows += api.open_windows(learner.pk, course_key, "passing", opened)
    api.tick(now=now)
    for number, window in enumerate(windows):
        if number % 3 == 0:
            evidence = api.record_evidence(
                window=window, requirement=project, source="learner", payload={"text": "Used it."},
                idempotency_key=f"p{number}", submitted_at=window.opened_at + timedelta(days=number % 7))
            api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=staff_user)
    reversed_window = windows[12]  # running, activated: the staff reversal reopens it
    api.review_evidence(reversed_window.evidence.get(), verdict="rejected", role=Review.Role.STAFF,
                        reviewer=UserFactory(is_staff=True))
    api.withdraw_window(learners[3], course_key, windows[3].pk)
    api.retire_user(learners[6].pk)
    erb.retire(learners[6])

    as_of = timezone.now()
    warehouse = aspects(as_of)
    made = statements(events())
    # Stored as they were routed before opened and expired had verbs of their own, then replayed.
    first = {"http://activitystrea.ms/schema/1.0/start": "http://adlnet.gov/expapi/verbs/initialized",
             "http://activitystrea.ms/schema/1.0/close": "http://adlnet.gov/expapi/verbs/terminated"}
    warehouse.load([{**statement, "verb": {**statement["verb"], "id": first[statement["verb"]["id"]]}}
                    for statement in made if statement["verb"]["id"] in first])
    warehouse.load(made)
    summary, rate, curve = assert_same_figures(warehouse, definition, as_of)
    assert 0 < summary["activated"] < summary["eligible"] and summary["open"] and len(curve) > 3
    arms = {row["value"]: row for row in warehouse.rows("SELECT * FROM reporting.activation_rates "
                                                        "WHERE breakdown = 'arm'")}
    assert sum(row["completers"] for row in arms.values()) == rate["completers"]

    # The dashboard's charts run on the same models, and agree with them.
    charts = {title: warehouse.rows(sql) for title, sql in chart_queries(superset_assets()).items()}
    assert set(charts) == {"Activation rate by run", "Activation rate over time", "Prompted vs holdout",
                           "Activation funnel", "Time to activation", "Activation by segment", "Activation portfolio"}
    assert all(charts.values())
    [run] = charts["Activation rate by run"]
    assert (run["Ended windows"], run["Activated"]) == (summary["eligible"], summary["activated"])
    assert (run["rate_low"], run["rate_high"]) == pytest.approx(summary["rate_ci"])
    assert {row["arm"] for row in charts["Activation funnel"]} == {"prompted", "holdout"}
    assert [row["day"] for row in charts["Time to activation"]] == [point.day for point in summary["km_curve"]]
    assert sum(row["Completers"] for row in charts["Activation by segment"]) == summary["completers"]


def follow_up(definition, run, learners, now, every):
    """Windows of ``learners`` in ``run``, opened days apart, a third of them activated by a staff verdict."""
    [project] = definition.requirements.all()
    windows = []
    for number, learner in enumerate(learners):
        windows += api.open_windows(learner.pk, run, "passing", now - timedelta(days=80 - every * number))
    api.tick(now=now)
    for number, window in enumerate(windows):
        if number % 3 == 0:
            evidence = api.record_evidence(
                window=window, requirement=project, source="learner", payload={"text": "Used it."},
                idempotency_key=f"{run}-{number}", submitted_at=window.opened_at + timedelta(days=number % 5))
            api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=window.user)
    return windows


@pytest.mark.django_db(transaction=True, reset_sequences=True)
# pylint: disable-next=too-many-statements
def test_every_chart_runs_for_the_instructor_of_one_course_filtered_to_one_definition(
        erb, events, aspects, make_definition, course_key, settings, mailoutbox):
    """
    Two definitions in two courses: each chart's query, as Superset sends it with the instructor
    role's row-level security and the dashboard's native filters, runs and gives that course's
    and definition's figures only, as the page has them.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    other = CourseKey.from_string("course-v1:OtherX+LEAD+2026")
    DemoCourse.objects.create(course_key=other, display_name="Leading")
    first = make_definition(requirements=[STAFF_PROJECT], window_days=45, holdout_percent=30)
    second = make_definition(requirements=[STAFF_PROJECT], window_days=20, holdout_percent=50, course_key=other)
    now = timezone.now()
    follow_up(first, course_key, UserFactory.create_batch(12), now, every=6)
    follow_up(second, other, UserFactory.create_batch(9), now, every=8)
    # Opened an hour ago: its month has no window that ended, so no rate and no interval.
    latest = UserFactory()
    api.open_windows(latest.pk, course_key, "passing", now - timedelta(hours=1))
    source = MetricSource.objects.create(name="crm", kind="csv")
    api.ingest_observations(source, [{"external_id": "EMP-7", "metric": "handle_time", "value": 200,
                                      "observed_at": now.isoformat()}])
    api.link_identities(source, [("EMP-7", latest)])
    as_of = timezone.now()
    warehouse = aspects(as_of)
    warehouse.load(statements(events()))
    assets = superset_assets()
    # Aspects' own count of courses sees these two, and nothing made up (a KPI source, say).
    parsed = warehouse.rows("SELECT DISTINCT course_key FROM xapi.xapi_events_all_parsed")
    assert {row["course_key"] for row in parsed} == {str(course_key), str(other)}

    [dashboard] = [asset for asset in assets if asset.get("dashboard_title") == "Activation"]
    filters = {item["targets"][0]["column"]["name"]: item
               for item in dashboard["metadata"]["native_filter_configuration"]}
    assert set(filters) == {"definition_id", "course_key"}
    # A definition is always chosen: the charts never pool definitions.
    assert filters["definition_id"]["controlValues"]["enableEmptyFilter"] is True

    def charts(definition, instructor_of=None, runs=None):
        native = {"definition_id": [definition.pk], **({"course_key": [str(run) for run in runs]} if runs else {})}
        return {title: warehouse.rows(sql) for title, sql in
                chart_queries(assets, native_filters=native, instructor_of=instructor_of).items()}

    for definition, run, instructor_of in ((first, course_key, [str(course_key)]), (second, other, None)):
        summary = api.summarize(definition, now=as_of)
        shown = charts(definition, instructor_of=instructor_of, runs=None if instructor_of else [run])
        assert all(shown.values()), [title for title, rows in shown.items() if not rows]
        [by_run] = shown["Activation rate by run"]
        assert by_run["course_key"] == str(run)
        assert (by_run["Completers"], by_run["Ended windows"], by_run["Activated"]) == (
            summary["completers"], summary["eligible"], summary["activated"])
        assert (by_run["rate"], by_run["rate_low"], by_run["rate_high"]) == pytest.approx(
            (summary["rate"], *summary["rate_ci"]))
        counts = funnel_counts(definition, as_of)
        for row in shown["Prompted vs holdout"]:
            arm = counts[row["value"]]
            assert (row["Ended windows"], row["Activated"]) == (arm["ended"], arm["activated_ended"])
            assert (row["rate_low"], row["rate_high"]) == pytest.approx(
                stats.wilson_interval(arm["activated_ended"], arm["ended"]) or (None, None))
        assert {row["arm"]: row["Completed"] for row in shown["Activation funnel"]} == {
            arm: stage["completed"] for arm, stage in counts.items() if stage["completed"]}
        curve = shown["Time to activation"]
        assert [row["day"] for row in curve] == [point.day for point in summary["km_curve"]]
        assert [row["Activated (Kaplan-Meier)"] for row in curve] == pytest.approx(
            [1 - point.survival for point in summary["km_curve"]])
        assert sum(row["Completers"] for row in shown["Activation by segment"]) == summary["completers"]

    months = charts(first, instructor_of=[str(course_key)])["Activation rate over time"]
    [this_month] = [row for row in months if row["value"] == as_of.strftime("%Y-%m")]
    assert (this_month["rate"], this_month["rate_low"], this_month["rate_high"]) == (None, None, None)
    [model_row] = warehouse.rows("SELECT rate, rate_low, rate_high FROM reporting.activation_rates "
                                 f"WHERE breakdown = 'month' AND value = '{as_of:%Y-%m}'")
    assert model_row == {"rate": None, "rate_low": None, "rate_high": None}  # not 0 to 1
    assert any(row["rate_low"] is not None for row in months)

    # Embedded in the first course's instructor dashboard (its Reports tab): that course's figures.
    embedded = {title: warehouse.rows(sql) for title, sql in chart_queries(
        assets, native_filters={"definition_id": [first.pk]}, embedded_in=course_key).items()}
    assert all(embedded.values())
    assert [row["course_key"] for row in embedded["Activation rate by run"]] == [str(course_key)]
    assert not any(warehouse.rows(sql) for sql in chart_queries(
        assets, native_filters={"definition_id": [second.pk]}, embedded_in=course_key).values())
    # The instructor of the first course sees nothing of the second, whatever the filters say.
    assert not any(charts(second, instructor_of=[str(course_key)]).values())
    assert not any(charts(first, instructor_of=[]).values())


def test_the_datasets_declare_the_models_columns_and_the_charts_use_only_those(aspects):
    """Superset refuses a query on a column its dataset does not declare, and an x-axis also in groupby."""
    warehouse = aspects(timezone.now())
    assets = superset_assets()
    for dataset in (asset for asset in assets if "table_name" in asset):
        described = {row["name"]: row["type"] for row in warehouse.rows(f"DESCRIBE reporting.{dataset['table_name']}")}
        assert {column["column_name"]: column["type"] for column in dataset["columns"]} == described
        assert "course_key" in described and "definition_id" in described  # row-level security, native filters
        assert {column["column_name"] for column in dataset["columns"] if column["is_dttm"]} == {
            name for name, kind in described.items() if "DateTime" in kind}
    assert set(chart_queries(assets, native_filters={"definition_id": [1], "course_key": ["x"]}, instructor_of=["x"]))
    assert {dataset["table_name"] for dataset in assets if "table_name" in dataset} < set(MODELS)


def test_superset_s_refusals_are_what_the_harness_checks():
    chart = {"slice_name": "Twice", "dataset_uuid": "d", "params": {
        "x_axis": "day", "groupby": ["day"], "metrics": ["rate"], "adhoc_filters": []}}
    dataset = {"table_name": "t", "uuid": "d", "sql": "select 1",
               "metrics": [{"metric_name": "rate", "expression": "1"}],
               "columns": [{"column_name": "day"}]}
    with pytest.raises(SupersetError, match="duplicate"):
        chart_queries([dataset, chart])
    chart["params"]["groupby"] = []
    with pytest.raises(SupersetError, match="missing in dataset"):
        chart_queries([dataset, chart], instructor_of=["x"])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_models_give_the_page_s_figures_on_the_demo_course(erb, events, aspects, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    with open("/dev/null", "w", encoding="utf-8") as quiet:
        call_command("seed_demo", stdout=quiet)
    [definition] = ActivationDefinition.objects.all()
    activated = definition.windows.filter(state="activated").order_by("pk")[0]
    api.review_evidence(activated.evidence.filter(status="verified")[0], verdict="rejected",
                        role=Review.Role.STAFF, reviewer=UserFactory(is_staff=True))
    leaving = definition.windows.filter(state="activated").order_by("-pk")[0]
    api.withdraw_window(leaving.user, leaving.course_run, leaving.pk)
    as_of = timezone.now()
    warehouse = aspects(as_of)
    warehouse.load(statements(events()))
    summary, _rate, _curve = assert_same_figures(warehouse, definition, as_of)
    assert summary["completers"] > 150


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_portfolio_chart_gives_the_portfolio_s_rows_within_row_level_security(
        erb, events, aspects, make_definition, course_key, settings, mailoutbox):
    """
    Three definitions in two orgs: the portfolio chart, as Superset sends it, gives each course's
    completers, ended windows, activated and rate with its interval, its shrunken rate and rank, and
    its place on the funnel plot as the portfolio page has them (unsuppressed), filtered by org or run,
    and to an instructor only their course.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    runs = [course_key, CourseKey.from_string("course-v1:OtherX+LEAD+2026"),
            CourseKey.from_string("course-v1:OtherX+SELL+2026")]
    for run in runs[1:]:
        DemoCourse.objects.create(course_key=run, display_name=f"Course {run.course}")
    definitions = [make_definition(requirements=[STAFF_PROJECT], window_days=20, course_key=run) for run in runs]
    now = timezone.now()
    for definition, run, learners in zip(definitions, runs, (12, 8, 5)):  # 3 of 9, 3 of 8, 2 of 5 ended activated
        follow_up(definition, run, UserFactory.create_batch(learners), now, every=7)
    as_of = timezone.now()
    warehouse = aspects(as_of)
    warehouse.load(statements(events()))
    assets = superset_assets()
    [dashboard] = [asset for asset in assets if asset.get("dashboard_title") == "Activation portfolio"]
    assert {item["targets"][0]["column"]["name"] for item in dashboard["metadata"]["native_filter_configuration"]} \
        == {"org", "course_key"}
    staff = UserFactory(is_staff=True)
    figures = api.portfolio(staff, now=as_of)
    expected = {row["definition_id"]: row for row in figures["rows"]}

    def chart(**options):
        return warehouse.rows(chart_queries(assets, **options)["Activation portfolio"])

    rows = chart()
    # In the page's ranking (by the shrunken rate), with the page's portfolio rate, prior and shrunken rates;
    # the funnel limits put each course where the page's funnel plot does.
    assert [row["definition_id"] for row in rows] == [page["definition_id"] for page in figures["rows"]]
    assert len({page["rank"] for page in figures["rows"]}) == 3
    prior = figures["prior"]
    for row in rows:
        page = expected[row["definition_id"]]
        assert (row["org"], row["catalog_course"]) == (page["org"], page["catalog_course"])
        assert (row["Completers"], row["Ended windows"], row["Activated"]) == (
            page["completers"], page["eligible"], page["activated"])
        assert (row["rate"], row["rate_low"], row["rate_high"]) == pytest.approx((page["rate"], *page["rate_ci"]))
        assert (row["portfolio_rate"], row["prior_strength"], row["shrunken_rate"]) == pytest.approx(
            (figures["pooled"]["rate"], prior["strength"], page["shrunken"]), rel=1e-9)
        limits = portfolio_stats.FunnelLimits(n=row["Ended windows"], low={0.95: row["funnel_low_95"], 0.998: row[
            "funnel_low_998"]}, high={0.95: row["funnel_high_95"], 0.998: row["funnel_high_998"]})
        assert portfolio_stats.funnel_position(row["Activated"], row["Ended windows"], limits) == page["position"]
        stated = shrunken_tolerance(prior["alpha"], prior["beta"], page["activated"], page["eligible"])
        assert (row["shrunken_low"], row["shrunken_high"]) == pytest.approx(page["shrunken_ci"], abs=stated)
    assert {row["catalog_course"] for row in chart(native_filters={"org": ["OtherX"]})} == {
        "OtherX+LEAD", "OtherX+SELL"}
    assert [row["catalog_course"] for row in chart(native_filters={"course_key": [str(runs[2])]})] == ["OtherX+SELL"]
    assert [row["definition_id"] for row in chart(instructor_of=[str(course_key)])] == [definitions[0].pk]
    assert not chart(instructor_of=[])
