"""
Source declarations for common services, checked against imitations written from each service's
public API documentation (``tests/test_kpi_recipes.py``) and shown in the how-to. Copy one into
``ACTIVATION_METRIC_SOURCES`` and change the host, the credentials and the fields to your account.

Each reads the field the service filters changes on (``modified_at``) with an overlap
(``lookback_seconds``), and pages in an order that a change during the pull does not shift
(creation, not modification), so a record is neither skipped nor stored twice.
"""

# Incremental ticket export (time-based): tickets changed since ``start_time`` (epoch seconds,
# inclusive), with the assignees and the ticket metrics sideloaded; ``end_of_stream`` on the last page.
ZENDESK = {
    "kind": "rest", "url": "https://acme.zendesk.com/api/v2/incremental/tickets.json",
    "allowed_hosts": ["acme.zendesk.com"],
    "auth": {"type": "basic", "username": "ops@acme.com/token", "password_env": "ZENDESK_TOKEN"},
    "params": {"start_time": "{since}", "include": "users,metric_sets"}, "since_format": "epoch",
    "lookback_seconds": 60,
    "records": "tickets[?status == 'solved' || status == 'closed']",
    "join": [{"list": "users", "key": "id", "field": "assignee_id", "as": "assignee"},
             {"list": "metric_sets", "key": "ticket_id", "field": "id", "as": "metrics"}],
    "pagination": {"style": "next_link", "next": "next_page", "end": "end_of_stream"},
    "mapping": {"external_id": "assignee.email", "metric": "'full_resolution_minutes'",
                "value": "metrics.full_resolution_time_in_minutes.calendar", "observed_at": "metrics.solved_at",
                "record_id": "id", "modified_at": "generated_timestamp"},
}

# CRM search: a POST whose body carries the filter, the properties to return and the ``after``
# cursor; every property comes back as text. Deals name their owner by id: upload identity links
# from the owners list (``GET /crm/v3/owners``: id and email) to reach the learner. A search pages
# through at most 10,000 results: with more won deals than that, add a ``createdate`` filter to
# the body so that the first pull stays under it (later pulls read only what changed).
HUBSPOT = {
    "kind": "rest", "url": "https://api.hubapi.com/crm/v3/objects/deals/search", "method": "POST",
    "allowed_hosts": ["api.hubapi.com"], "auth": {"type": "bearer", "token_env": "HUBSPOT_TOKEN"},
    "since_format": "epoch_ms", "lookback_seconds": 60,
    "body": {"filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "{since}"},
        {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"}]}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["amount", "closedate", "hubspot_owner_id", "hs_lastmodifieddate"], "limit": 100},
    "records": "results",
    "pagination": {"style": "cursor", "next_cursor": "paging.next.after", "cursor_param": "after"},
    "mapping": {"external_id": "properties.hubspot_owner_id", "metric": "'won_deal_amount'",
                "value": "to_number(properties.amount)", "observed_at": "properties.closedate", "record_id": "id",
                "modified_at": "properties.hs_lastmodifieddate"},
}

# Table API: an encoded query with times as ``YYYY-MM-DD HH:MM:SS`` (UTC without display values),
# offset paging with the total in ``X-Total-Count``; rows the account may not read are dropped
# after the page is cut, so pages can be short before the end.
SERVICENOW = {
    "kind": "rest", "url": "https://acme.service-now.com/api/now/table/incident",
    "allowed_hosts": ["acme.service-now.com"],
    "auth": {"type": "basic", "username": "integration", "password_env": "SNOW_PASSWORD"},
    "params": {"sysparm_query": "resolved_atISNOTEMPTY^sys_updated_on>={since}^ORDERBYsys_created_on",
               "sysparm_fields": "sys_id,assigned_to.email,resolved_at,reopen_count,sys_updated_on",
               "sysparm_exclude_reference_link": "true"},
    "since_format": "datetime", "lookback_seconds": 60, "records": "result",
    "pagination": {"style": "offset", "offset_param": "sysparm_offset", "limit_param": "sysparm_limit",
                   "limit": 100, "total_header": "X-Total-Count"},
    "mapping": {"external_id": '"assigned_to.email"', "metric": "'reopens'", "value": "to_number(reopen_count)",
                "observed_at": "resolved_at", "record_id": "sys_id", "modified_at": "sys_updated_on"},
}

# Enhanced JQL search (Jira Cloud): a POST whose body carries the JQL and ``nextPageToken``; the
# last page says ``isLast``. JQL compares dates in the account's time zone, to the minute: the
# date with a day of overlap covers both.
JIRA = {
    "kind": "rest", "url": "https://acme.atlassian.net/rest/api/3/search/jql", "method": "POST",
    "allowed_hosts": ["acme.atlassian.net"],
    "auth": {"type": "basic", "username": "ops@acme.com", "password_env": "JIRA_API_TOKEN"},
    "body": {"jql": "project = SUP AND resolution IS NOT EMPTY AND updated >= '{since}' ORDER BY created ASC",
             "fields": ["assignee", "resolutiondate", "updated", "customfield_10016"], "maxResults": 100},
    "since_format": "date", "lookback_seconds": 86400, "records": "issues",
    "pagination": {"style": "cursor", "next_cursor": "nextPageToken", "cursor_param": "nextPageToken",
                   "end": "isLast"},
    "mapping": {"external_id": "fields.assignee.emailAddress", "metric": "'story_points'",
                "value": "fields.customfield_10016", "observed_at": "fields.resolutiondate", "record_id": "key",
                "modified_at": "fields.updated"},
}
