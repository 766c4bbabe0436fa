"""The demo's stand-in helpdesk API, pulled by the real REST connector over a real socket."""
from activation_plugin.kpi import pull
from activation_plugin.models import MetricObservation, MetricSource
from activation_plugin.test_utils.factories import UserFactory


def test_the_demo_helpdesk_is_pulled_page_by_page_and_matched(live_server, settings, transactional_db):
    learner = UserFactory(username="learner001", email="learner001@demo.localhost")
    sources = settings.ACTIVATION_METRIC_SOURCES
    settings.ACTIVATION_METRIC_SOURCES = {
        **sources, "demo-helpdesk": {**sources["demo-helpdesk"], "url": f"{live_server.url}/fake-helpdesk/api/tickets/"}}
    result = pull.pull("demo-helpdesk")
    assert result["status"] == "ok" and result["stored"] == MetricObservation.objects.count() > 50
    assert MetricObservation.objects.filter(user=learner).count() == 5
    assert pull.pull("demo-helpdesk")["stored"] == 0
    settings.DEMO_KPI_TOKEN = "rotated"
    failed = pull.pull("demo-helpdesk")
    assert failed["error"] == "HTTP 401 from localhost." and MetricSource.objects.get(name="demo-helpdesk").cursor
