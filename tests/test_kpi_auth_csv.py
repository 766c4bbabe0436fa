"""
Issue 28: OAuth2 with a refresh token (as many Salesforce orgs allow), the token endpoint's own
explanation of a refusal, and CSV exports (a Google Sheet) read through the guarded client.
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin.kpi import pull
from activation_plugin.kpi.http import Request, fetch
from activation_plugin.kpi.sources import parse
from activation_plugin.models import MetricObservation, MetricSource
from tests.kpi_server import KpiServer, Reply, rest_source

BASE = (timezone.now() - timedelta(days=3)).replace(microsecond=0)


pytestmark = pytest.mark.usefixtures("agents")


def salesforce(kpi_server, token_reply):
    kpi_server.route("/services/oauth2/token", token_reply)
    kpi_server.route("/services/data/v60.0/query", lambda query: Reply(body={"totalSize": 1, "done": True, "records": [
        {"Id": "006A", "Owner": {"Email": "agent1@example.com"}, "Amount": 1200,
         "CloseDate": BASE.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}]}))
    return rest_source(
        kpi_server, "/services/data/v60.0/query", params={"q": "SELECT Id FROM Opportunity"}, records="records",
        auth={"type": "oauth2", "grant_type": "refresh_token", "token_url": kpi_server.url("/services/oauth2/token"),
              "client_id": "3MVG9", "client_secret": "client-s3cret", "refresh_token": "r3fresh-t0ken"},
        mapping={"external_id": "Owner.Email", "metric": "'deal_amount'", "value": "Amount",
                 "observed_at": "CloseDate", "record_id": "Id"})


def test_oauth2_refresh_token_grant(settings, kpi_server):
    """A refresh_token grant was silently ignored: client credentials were sent, which the org refuses."""
    def token(query):
        form = query["_body"]
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["r3fresh-t0ken"]:
            return Reply(status=400, body={"error": "unsupported_grant_type", "error_description": "grant type"})
        return Reply(body={"access_token": "00Dxx!access", "instance_url": "https://acme.my.salesforce.com",
                           "token_type": "Bearer"})
    settings.ACTIVATION_METRIC_SOURCES = {"sf-refresh": salesforce(kpi_server, token)}
    assert pull.pull("sf-refresh")["stored"] == 1
    query = [request for request in kpi_server.requests if request["path"].endswith("/query")][0]
    assert query["headers"]["Authorization"] == "Bearer 00Dxx!access"


def test_a_token_refusal_keeps_the_server_s_description_and_no_secret(settings, kpi_server):
    """The token endpoint's error_description was dropped: "answered HTTP 400" and nothing else."""
    settings.ACTIVATION_METRIC_SOURCES = {"sf-expired": salesforce(kpi_server, Reply(status=400, body={
        "error": "invalid_grant", "error_description": "expired access/refresh token r3fresh-t0ken"}))}
    result = pull.pull("sf-expired")
    assert result["status"] == "error"
    assert "invalid_grant" in result["error"] and "expired access/refresh token" in result["error"]
    assert "r3fresh-t0ken" not in result["error"] + MetricSource.objects.get(name="sf-expired").last_error


SHEET = ("Agent email,CSAT,Date\r\nagent0@example.com,4.5,{d0}\r\nagent1@example.com,3,{d1}\r\n"
         "\"agent2@example.com\",\"5\",{d1}\r\n")


def test_a_google_sheets_csv_export_is_read_after_its_redirect(settings, kpi_server):
    """A CSV export failed as "malformed JSON", naming the first host rather than the one that answered."""
    with KpiServer() as content:
        content.route("/export-content", Reply(raw=SHEET.format(d0=BASE.date(), d1=(BASE + timedelta(days=1)).date())
                                               .encode(), headers={"Content-Type": "text/csv"}))
        port = content.httpd.server_address[1]
        kpi_server.route("/spreadsheets/d/abc/export", Reply(status=307, headers={
            "Location": f"http://localhost:{port}/export-content?id=abc"}))
        config = rest_source(kpi_server, "/spreadsheets/d/abc/export", params={"format": "csv"}, format="csv",
                             allowed_hosts=["127.0.0.1", f"localhost:{port}"],
                             mapping={"external_id": '"Agent email"', "metric": "'csat'", "value": "CSAT",
                                      "observed_at": "Date"})
        settings.ACTIVATION_METRIC_SOURCES = {"sheet": config}
        result = pull.pull("sheet")
        assert (result["status"], result["stored"], result["matched"]) == ("ok", 3, 3)
        assert sorted(MetricObservation.objects.values_list("value", flat=True)) == [3.0, 4.5, 5.0]
        # A Python connector reads the same export through the guarded client.
        page = fetch(config["url"], parse("sheet", config), Request(params={"format": "csv"}, format="csv"))
        # pylint: disable-next=unsubscriptable-object  # fetch returns a list body for a CSV
        assert page.body[0] == {"Agent email": "agent0@example.com", "CSAT": "4.5", "Date": str(BASE.date())}
        settings.ACTIVATION_METRIC_SOURCES = {"json": {**config, "format": "json"}}
        failed = pull.pull("json")
        assert failed["status"] == "error" and "localhost returned malformed JSON" in failed["error"]
