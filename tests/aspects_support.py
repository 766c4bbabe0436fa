"""
What the event-routing-backends (ERB) and ClickHouse tests share.

ERB's helpers look three things up in edx-platform: a learner's external id, users by username,
and course overviews. Outside the LMS they are None; ``erb`` puts stand-ins in their place (the
only part not real: ERB, its transformers, tincan and ClickHouse are). ``aspects`` is a chdb
session holding the tables Aspects has: the raw xAPI table Ralph writes to, aspects-dbt's own
parsed model on it (tests/aspects_dbt) with the functions Aspects' migrations create, plus the
plugin's dbt models rendered as views.
"""
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

import activation_plugin

ROOT = Path(__file__).resolve().parent.parent
DBT = Path(activation_plugin.__file__).resolve().parent / "aspects" / "dbt"  # the package under test: what ships
MODELS = ("activation_statements", "activation_windows", "activation_rates", "activation_km", "activation_funnel")


class ExternalIds:
    """edx-platform's ExternalId: one random UUID per learner and type, forgotten on retirement."""

    XAPI = "xapi"

    def __init__(self):
        self.ids = {}

    def add_new_user_id(self, user, type_name):
        key = (user.pk, type_name)
        created = key not in self.ids
        self.ids.setdefault(key, uuid.uuid4())
        return SimpleNamespace(external_user_id=self.ids[key]), created

    def retire(self, user):
        """What Aspects' retirement sink does in ClickHouse: the id no longer leads to the learner."""
        self.ids = {key: value for key, value in self.ids.items() if key[0] != user.pk}


@pytest.fixture
def erb(settings, monkeypatch):
    """
    ERB's settings for statements with the learner's external id, and the stand-in ids. ERB itself
    is an installed app already: the demo host discovers it by its plugin entry point, as the LMS
    does, and the plugin's ready() registered the transformers.
    """
    from event_routing_backends import helpers  # pylint: disable=import-outside-toplevel
    external_ids = ExternalIds()
    monkeypatch.setattr(helpers, "ExternalId", external_ids)
    monkeypatch.setattr(helpers, "ExternalIdType", ExternalIds)
    monkeypatch.setattr(helpers, "get_potentially_retired_user_by_username", lambda username: None)
    monkeypatch.setattr(helpers, "get_course_overviews", lambda keys: [{"display_name": f"Course {key}"}
                                                                       for key in keys])
    helpers.get_anonymous_user_id.cache_clear()
    helpers.get_course_from_id.cache_clear()
    settings.XAPI_AGENT_IFI_TYPE = "external_id"
    settings.XAPI_EVENTS_ENABLED = True
    settings.XAPI_EVENT_LOGGING_ENABLED = False
    yield external_ids
    helpers.get_anonymous_user_id.cache_clear()


def statements(events):
    """
    The xAPI statements ERB's processor makes of tracking events (as the tracking log has them),
    of the events the plugin's allow-list lets through ERB's router.
    """
    # pylint: disable-next=import-outside-toplevel
    from event_routing_backends.processors.xapi.transformer_processor import XApiProcessor

    from activation_plugin.xapi import XAPI_EVENTS  # pylint: disable=import-outside-toplevel
    return XApiProcessor()([event for event in events if event["name"] in XAPI_EVENTS])


def render(name, variables):
    """A model's SQL as dbt would compile it: the package's macros, ``ref`` to the views below, ``var``."""
    import jinja2  # pylint: disable=import-outside-toplevel
    macros = (DBT / "macros" / "activation.sql").read_text(encoding="utf-8")
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        macros + (DBT / "models" / "activation" / f"{name}.sql").read_text(encoding="utf-8"))
    return template.render(
        config=lambda **_: "", var=variables.get,
        ref=lambda model: f"xapi.{model}" if model == "xapi_events_all_parsed" else f"reporting.{model}",
    )


def xapi_events_all_parsed():
    """
    aspects-dbt's ``xapi_events_all_parsed`` (models/base, tag v7.0.0, Apache 2.0, copied verbatim
    into tests/aspects_dbt) compiled as dbt would: its config and engine macros aside, the source
    Ralph's table, the schema its default.
    """
    import jinja2  # pylint: disable=import-outside-toplevel
    text = (Path(__file__).with_name("aspects_dbt") / "xapi_events_all_parsed.sql").read_text(encoding="utf-8")
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(
        config=lambda **_: "", get_engine=lambda engine: engine, env_var=lambda _name, default: default,
        source=lambda schema, table: f"{schema}.{table}")


def clickhouse_time(value):
    return datetime.fromisoformat(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class Aspects:
    """A chdb session with Aspects' xAPI tables and the plugin's models as of ``as_of``."""

    def __init__(self, tmp_path, as_of):
        from chdb import session  # pylint: disable=import-outside-toplevel
        self.tmp_path = tmp_path
        self.session = session.Session(str(tmp_path / "chdb"))
        for sql in (
            "CREATE DATABASE IF NOT EXISTS xapi",
            "CREATE DATABASE IF NOT EXISTS reporting",
            # As Aspects' migrations create it (ASPECTS_RAW_XAPI_TABLE, after the Ralph 4 upgrade).
            "CREATE TABLE xapi.xapi_events_all (event_id UUID NOT NULL, emission_time DateTime64(6) NOT NULL, "
            "event String NOT NULL) ENGINE ReplacingMergeTree ORDER BY (emission_time, event_id)",
            # Aspects' functions (its alembic migrations 0020 and 0033), which aspects-dbt calls.
            "CREATE OR REPLACE FUNCTION get_org_from_course_url AS (course_url) -> "
            "nullIf(EXTRACT(course_url, 'course-v1:([a-zA-Z0-9\\w\\-~.:%]*)'), '')",
            "CREATE OR REPLACE FUNCTION get_org_from_ccx_course_url AS (course_url) -> "
            "nullIf(EXTRACT(course_url, 'ccx-v1:([a-zA-Z0-9]*)'), '')",
            # aspects-dbt's own model, as a view (a materialized view there: the same rows).
            f"CREATE VIEW xapi.xapi_events_all_parsed AS {xapi_events_all_parsed()}",
        ):
            self.session.query(sql)
        variables = {"activation_as_of": f"'{clickhouse_time(as_of.isoformat())}'"}
        for model in MODELS:
            self.session.query(f"CREATE VIEW reporting.{model} AS {render(model, variables)}")

    def load(self, found):
        """Insert statements as Ralph does: one row each, emitted at the statement's timestamp."""
        path = self.tmp_path / "statements.jsonl"
        path.write_text("".join(json.dumps({"event_id": statement["id"],
                                            "emission_time": clickhouse_time(statement["timestamp"]),
                                            "event": json.dumps(statement)}) + "\n" for statement in found),
                        encoding="utf-8")
        self.session.query(f"INSERT INTO xapi.xapi_events_all SELECT * FROM file('{path}', JSONEachRow, "
                           "'event_id UUID, emission_time DateTime64(6), event String')")

    def rows(self, sql):
        """Rows of a query as dicts."""
        result = self.session.query(sql, "JSONEachRow")
        return [json.loads(line) for line in result.bytes().decode().splitlines() if line]

    def close(self):
        self.session.close()


@pytest.fixture
def aspects(tmp_path):
    sessions = []

    def start(as_of):
        sessions.append(Aspects(tmp_path, as_of))
        return sessions[-1]
    yield start
    for session in sessions:
        session.close()


def superset_assets(database="reporting"):
    """The Superset assets the Tutor plugin ships, rendered as Tutor does where Aspects is enabled."""
    import jinja2  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel
    text = (ROOT / "tutor" / "tutoractivation" / "patches" / "superset-extra-assets").read_text(encoding="utf-8")
    rendered = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(
        activation_aspects_enabled=lambda: True, DBT_PROFILE_TARGET_DATABASE=database,
        SUPERSET_ROLES_MAPPING={"instructor": "instructor"})
    return [asset for asset in yaml.safe_load_all(rendered) if asset]


# Aspects' row-level security on its dbt schema for the instructor role
# (tutor-contrib-aspects, create_row_level_security.py), and its can_view_courses (openedx_jinja_filters.py)
# for a course staff member: the courses they are staff on, or none.
INSTRUCTOR_RLS_CLAUSE = '{{can_view_courses(current_username(), "course_key")}}'


def can_view_courses(courses):
    def clause(_username, field_name="course_id", **_kwargs):
        if not courses:
            return "1 = 0"
        course_id_list = ", ".join(f"'{course_id}'" for course_id in courses)
        return f"{field_name} in ({course_id_list})"
    return clause


# The row-level security of the guest token platform-plugin-aspects asks Superset for when it
# embeds a dashboard in a course's instructor dashboard (utils.DEFAULT_FILTERS_FORMAT).
EMBEDDED_RLS_FORMATS = ("org = '{course_id.org}'", "course_key = '{course_id}'")


class SupersetError(Exception):
    """What Superset refuses before sending a chart's query."""


def chart_queries(assets, native_filters=None, instructor_of=None, embedded_in=None):
    """
    ``{chart: SQL}`` as Superset 6 builds a chart's query: the x-axis then the groupby columns,
    its metrics (ad hoc SQL or the dataset's saved metrics) over the dataset's SQL, sorted by the
    table's sort metric (``timeseries_limit_metric``, a saved metric's name) if it has one, with the
    chart's ad hoc filters, the dashboard's native filters (``{column: values}``) and, for an
    instructor of the courses ``instructor_of``, Aspects' row-level-security clause, or embedded
    in the instructor dashboard of the course ``embedded_in`` (a CourseKey), the guest token's. Refuses, as
    Superset does, a column the dataset does not declare and a label twice in the query.
    """
    import jinja2  # pylint: disable=import-outside-toplevel
    datasets = {asset["uuid"]: asset for asset in assets if "table_name" in asset}
    queries = {}
    for chart in (asset for asset in assets if "slice_name" in asset):
        params, dataset = chart["params"], datasets[chart["dataset_uuid"]]
        declared = {column["column_name"] for column in dataset["columns"]}
        saved = {metric["metric_name"]: metric["expression"] for metric in dataset["metrics"]}
        columns = ([params["x_axis"]] if params.get("x_axis") else []) + params["groupby"]
        metrics = [(saved[metric], metric) if isinstance(metric, str) else (metric["sqlExpression"], metric["label"])
                   for metric in params["metrics"]]
        labels = columns + [label for _, label in metrics]
        if len(set(labels)) != len(labels):
            raise SupersetError(f"{chart['slice_name']}: duplicate column/metric labels {labels}")
        conditions = [item["sqlExpression"] for item in params["adhoc_filters"]]
        conditions += [f"{column} IN ({', '.join(repr(value) for value in values)})"
                       for column, values in (native_filters or {}).items()]
        missing = set(columns) - declared
        if native_filters:
            missing |= set(native_filters) - declared
        if instructor_of is not None:
            missing |= {"course_key"} - declared
            conditions.append(jinja2.Environment().from_string(INSTRUCTOR_RLS_CLAUSE).render(
                can_view_courses=can_view_courses(instructor_of), current_username=lambda: "instructor"))
        if embedded_in is not None:
            missing |= {"org", "course_key"} - declared
            conditions += [clause.format(course_id=embedded_in) for clause in EMBEDDED_RLS_FORMATS]
        if missing:
            raise SupersetError(f"{chart['slice_name']}: columns missing in dataset: {sorted(missing)}")
        selected = ", ".join([*columns, *(f"{sql} AS `{label}`" for sql, label in metrics)])
        where = " AND ".join(f"({condition})" for condition in conditions) or "1"
        # The table's "Sort by" metric orders its rows; then the columns, so that ties come out in one order.
        order = [f"`{params['timeseries_limit_metric']}` {'DESC' if params.get('order_desc', True) else 'ASC'}"
                 ] if params.get("timeseries_limit_metric") else []
        grouped = f" GROUP BY {', '.join(columns)} ORDER BY {', '.join(order + columns)}" if columns else ""
        queries[chart["slice_name"]] = (f"SELECT {selected} FROM ({dataset['sql']}) AS virtual_table "
                                        f"WHERE {where}{grouped}")
    return queries


# The stated tolerance of the portfolio chart's shrunken interval (the rates dataset's shrunken_low and
# shrunken_high), a numerical beta quantile: 0.0001 when the posterior's parameters (alpha + activated,
# beta + not activated) are both 1 or more, 0.0005 in any case. Measured against scipy over priors of
# 1e-9 to 100,000 learners at rates of 2 to 98 %, courses of 1 to 100,000: worst 7.3e-5 and 5.0e-4.
SHRUNKEN_TOLERANCE, SHRUNKEN_TOLERANCE_FROM_1 = 0.0005, 0.0001


def shrunken_tolerance(alpha, beta, activated, eligible):
    """The stated tolerance of a course's shrunken interval."""
    smaller = min(alpha + activated, beta + eligible - activated)
    return SHRUNKEN_TOLERANCE_FROM_1 if smaller >= 1 else SHRUNKEN_TOLERANCE
