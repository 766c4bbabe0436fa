"""Data migrations, run forward on rows written by the previous schema."""
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE, AFTER = ("activation_plugin", "0006_figure_indexes"), ("activation_plugin", "0007_window_verified_strengths")


@pytest.fixture(autouse=True)
def latest_schema_afterwards():
    """Leave the schema as every later test expects it, whatever migration a test stopped at."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_windows_verified_before_0007_get_their_strength_tags():
    apps = migrate(BEFORE)
    user = apps.get_model("auth", "User").objects.create(username="before")
    definition = apps.get_model("activation_plugin", "ActivationDefinition").objects.create(
        course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY", name="d", behavior="b",
        window_days=30, holdout_seed="s")
    requirement = apps.get_model("activation_plugin", "EvidenceRequirement").objects.create(
        definition=definition, kind="project", title="p")
    window_model = apps.get_model("activation_plugin", "ActivationWindow")
    moment = datetime(2026, 6, 1, tzinfo=timezone.utc)
    window = window_model.objects.create(definition=definition, user=user, course_run="course-v1:TestX+APPLY+2026",
                                         trigger="passing", opened_at=moment, closes_at=moment, state="activated")
    evidence = apps.get_model("activation_plugin", "Evidence")
    for key, status, strength in (("a", "verified", "staff"), ("b", "verified", "peer"), ("c", "rejected", "")):
        evidence.objects.create(window=window, requirement=requirement, submitted_at=moment, source="learner",
                                status=status, strength=strength, idempotency_key=key)
    apps = migrate(AFTER)
    assert apps.get_model("activation_plugin", "ActivationWindow").objects.get(pk=window.pk).verified_strengths == \
        ",peer,staff,"


def test_definitions_activated_before_0008_have_nothing_to_offer():
    apps = migrate(("activation_plugin", "0007_window_verified_strengths"))
    definitions = apps.get_model("activation_plugin", "ActivationDefinition")
    moment = datetime(2026, 6, 1, tzinfo=timezone.utc)
    active = definitions.objects.create(course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY",
                                        name="a", behavior="b", window_days=30, holdout_seed="s", status="active",
                                        activated_at=moment)
    draft = definitions.objects.create(course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY",
                                       name="d", behavior="b", window_days=30, holdout_seed="t")
    apps = migrate(("activation_plugin", "0008_completions"))
    after = apps.get_model("activation_plugin", "ActivationDefinition").objects
    assert after.get(pk=active.pk).backfilled_at == moment
    assert after.get(pk=draft.pk).backfilled_at is None


def test_surveys_before_0015_keep_counting_and_ask_for_a_condition():
    apps = migrate(("activation_plugin", "0014_tallies"))
    definition = apps.get_model("activation_plugin", "ActivationDefinition").objects.create(
        course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY", name="d", behavior="b",
        window_days=30, holdout_seed="s")
    requirements = apps.get_model("activation_plugin", "EvidenceRequirement").objects
    questions = [{"id": "used", "type": "single_choice", "text": "Used?", "required": True, "options": ["Yes", "No"]}]
    survey = requirements.create(definition=definition, kind="survey", title="s", config={"questions": questions})
    project = requirements.create(definition=definition, kind="project", title="p", config={"instructions": "i"})
    apps = migrate(("activation_plugin", "0015_survey_activation_conditions"))
    after = apps.get_model("activation_plugin", "EvidenceRequirement").objects
    assert after.get(pk=survey.pk).config == {"questions": questions, "activation_condition": {"match": "not_set"}}
    assert after.get(pk=project.pk).config == {"instructions": "i"}


def test_opt_outs_before_0016_get_their_scope_and_a_learner_keeps_one_from_every_course():
    apps = migrate(("activation_plugin", "0015_survey_activation_conditions"))
    user = apps.get_model("auth", "User").objects.create(username="probed")
    definition = apps.get_model("activation_plugin", "ActivationDefinition").objects.create(
        course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY", name="d", behavior="b",
        window_days=30, holdout_seed="s")
    opt_outs = apps.get_model("activation_plugin", "PromptOptOut").objects
    first = opt_outs.create(user=user, definition=None)
    opt_outs.create(user=user, definition=None)  # what the check-then-insert let a probe write
    opt_outs.create(user=user, definition=definition)
    apps = migrate(("activation_plugin", "0016_integrity"))
    after = apps.get_model("activation_plugin", "PromptOptOut").objects
    assert sorted(after.values_list("pk", "scope")) == sorted([(first.pk, 0), (first.pk + 2, definition.pk)])


def test_kpi_tallies_before_0019_are_emptied_and_built_again_by_the_tick():
    """Issue 34: stored contributions lack the squared baselines and opening periods, so they are counted afresh."""
    apps = migrate(("activation_plugin", "0018_performance"))
    moment = datetime(2026, 6, 1, tzinfo=timezone.utc)
    definitions = apps.get_model("activation_plugin", "ActivationDefinition").objects
    user = apps.get_model("auth", "User").objects.create(username="measured")
    built = {}
    for name, kind in (("kpi", "metric"), ("plain", "project")):
        definition = definitions.create(course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY",
                                        name=name, behavior="b", window_days=30, holdout_seed=name, status="active",
                                        tallies_built_at=moment)
        apps.get_model("activation_plugin", "EvidenceRequirement").objects.create(
            definition=definition, kind=kind, title=name, config={"metric": "csat"} if kind == "metric" else {})
        apps.get_model("activation_plugin", "ActivationWindow").objects.create(
            definition=definition, user=user, course_run="course-v1:TestX+APPLY+2026", trigger="passing",
            opened_at=moment, closes_at=moment, tallied={"cell": {"completers": 1}, "day": None, "kpi": {}})
        apps.get_model("activation_plugin", "WindowTally").objects.create(
            definition=definition, cell=name, closes_on=moment.date(), course_run="course-v1:TestX+APPLY+2026",
            arm="prompted", first_opened=moment, completers=1)
        built[name] = definition.pk
    apps.get_model("activation_plugin", "KpiTally").objects.create(
        definition_id=built["kpi"], metric="csat", arm="prompted", activated=False, closes_on=moment.date(),
        measured=1, sum_delta=1.0)
    apps = migrate(("activation_plugin", "0019_kpi_tally_periods"))
    after = {name: apps.get_model("activation_plugin", "ActivationDefinition").objects.get(pk=pk)
             for name, pk in built.items()}
    tallies = apps.get_model("activation_plugin", "WindowTally").objects
    windows = apps.get_model("activation_plugin", "ActivationWindow").objects
    assert after["kpi"].tallies_built_at is None and not tallies.filter(definition_id=built["kpi"]).exists()
    assert windows.get(definition_id=built["kpi"]).tallied is None
    assert not apps.get_model("activation_plugin", "KpiTally").objects.exists()
    assert after["plain"].tallies_built_at == moment and tallies.filter(definition_id=built["plain"]).exists()
    assert windows.get(definition_id=built["plain"]).tallied is not None


def test_0022_gives_each_learner_one_follow_up_per_catalog_course_and_keeps_doubled_windows():
    apps = migrate(("activation_plugin", "0020_window_tally_stale"))
    users = apps.get_model("auth", "User").objects
    doubled, single = users.create(username="doubled"), users.create(username="single")
    definitions = apps.get_model("activation_plugin", "ActivationDefinition").objects
    moment = datetime(2026, 6, 1, tzinfo=timezone.utc)
    first, version, elsewhere = (definitions.create(course_key=f"course-v1:TestX+{course}+2026", name="d", behavior="b",
                                                    catalog_course=f"TestX+{course}", window_days=30, holdout_seed=seed)
                                 for course, seed in (("APPLY", "s"), ("APPLY", "t"), ("OTHER", "u")))
    windows = apps.get_model("activation_plugin", "ActivationWindow").objects
    # Two running windows of one learner in one catalog course, as the backfill before ADR 0012 left them.
    for definition, user in ((first, doubled), (version, doubled), (elsewhere, doubled), (first, single)):
        windows.create(definition=definition, user=user, course_run=definition.course_key, trigger="passing",
                       opened_at=moment, closes_at=moment + timedelta(days=30))
    apps = migrate(("activation_plugin", "0021_course_follow_up"))
    follow_ups = apps.get_model("activation_plugin", "CourseFollowUp").objects
    assert sorted(follow_ups.values_list("user_id", "catalog_course")) == sorted(
        [(doubled.pk, "TestX+APPLY"), (doubled.pk, "TestX+OTHER"), (single.pk, "TestX+APPLY")])
    assert apps.get_model("activation_plugin", "ActivationWindow").objects.count() == 4


def test_0022_sums_each_cells_kept_tally_rows_into_its_total():
    apps = migrate(("activation_plugin", "0021_course_follow_up"))
    definition = apps.get_model("activation_plugin", "ActivationDefinition").objects.create(
        course_key="course-v1:TestX+APPLY+2026", catalog_course="TestX+APPLY", name="d", behavior="b",
        window_days=30, holdout_seed="s", status="active", tallies_built_at=datetime(2026, 6, 1, tzinfo=timezone.utc))
    rows = apps.get_model("activation_plugin", "WindowTally").objects
    for cell, day, completers, activated in (("a", 1, 3, 1), ("a", 2, 4, 2), ("b", 1, 5, 0)):
        rows.create(definition=definition, cell=cell, closes_on=datetime(2026, 6, day).date(), arm="prompted",
                    course_run="course-v1:TestX+APPLY+2026", enrollment_mode=f"mode-{cell}",
                    first_opened=datetime(2026, 5, day, tzinfo=timezone.utc), completers=completers,
                    activated=activated, repeat=activated)
    apps = migrate(("activation_plugin", "0022_cell_totals"))
    totals = apps.get_model("activation_plugin", "CellTotal").objects.filter(definition_id=definition.pk)
    columns = ("cell", "enrollment_mode", "first_opened", "completers", "activated", "repeat")
    assert sorted(totals.values_list(*columns)) == [
        ("a", "mode-a", datetime(2026, 5, 1, tzinfo=timezone.utc), 7, 3, 3),
        ("b", "mode-b", datetime(2026, 5, 1, tzinfo=timezone.utc), 5, 0, 0)]
