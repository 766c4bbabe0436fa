"""
The python API of activation-plugin: the only code that writes its models.

Receivers, tasks, views, REST endpoints, management commands and the KPI connectors are thin
adapters that call the names exported here, grouped by concept below (one module each). Errors
are raised as ``activation_plugin.errors`` classes; every write runs in a transaction and every
externally-triggered write is idempotent (the key is stored with the write:
docs/decisions/0008-idempotency.rst). Names not exported here are internal and may change;
exported names are kept, and deprecated before they go.
"""
from activation_plugin.api.backfill import backfill
from activation_plugin.api.background import page_figures
from activation_plugin.api.background import register as register_background_work
from activation_plugin.api.background import request_backfill
from activation_plugin.api.completions import record_completion, retry_pending_completions, tick
from activation_plugin.api.conditions import set_activation_condition, surveys_without_condition
from activation_plugin.api.definitions import (
    HISTORY_FIELDS,
    MAX_HOLDOUT_PERCENT,
    MAX_REQUIREMENTS,
    activate_definition,
    add_requirement,
    archive_definition,
    check_may_configure,
    check_requirement,
    create_definition,
    definitions_for_course,
    new_version,
    requirement_specs,
    revise_definition,
    superseded_by,
    update_definition,
)
from activation_plugin.api.evidence import (
    LEARNER_KINDS,
    accepts_evidence,
    evidence_in_course,
    pending_reviews,
    project_is_settled,
    record_evidence,
    review_evidence,
    review_queue,
    save_learner_response,
    staff_review,
)
from activation_plugin.api.files import KPI_UPLOAD_DIR, KPI_UPLOAD_MAX_AGE, sweep_orphan_files
from activation_plugin.api.idempotency import run_once
from activation_plugin.api.identity import resolve as resolve_identities
from activation_plugin.api.messaging import opt_out, send_due_prompts, settle_ambiguous_claims, stale_claims
from activation_plugin.api.metric_sources import (
    declared_source_state,
    finish_pull,
    known_metrics,
    metric_source,
    sync_metric_source,
)
from activation_plugin.api.metrics import (
    FutureObservation,
    clean_external_id,
    clean_observation,
    foreign_external_ids,
    ingest_observations,
    link_identities,
    parse_time,
    record_id_of,
    resolve_observations,
)
from activation_plugin.api.observations import record_observation
from activation_plugin.api.peer import (
    current_peer_assignment,
    peer_review_waiting,
    request_peer_assignment,
    submit_peer_review,
)
from activation_plugin.api.plans import PRIMARY_FIGURES, plan_comparison, plan_status, register_plan
from activation_plugin.api.portfolio import portfolio, portfolio_definitions
from activation_plugin.api.privacy import retire_user, withdraw_window
from activation_plugin.api.queries import (
    MAX_ID,
    definition_in_course,
    definitions_with_requirements,
    evidence_detail_in_course,
    evidence_list_in_course,
    requirement_in_definition,
    runs_seen_by,
    windows_in_course,
)
from activation_plugin.api.source_quality import match_report as source_match_report
from activation_plugin.api.source_quality import source_figures
from activation_plugin.api.success_cases import success_case_rows, success_cases
from activation_plugin.api.supervision import (
    invite_for_link,
    invite_in_course,
    invite_supervisor,
    invites_for_course,
    record_supervisor_observation,
    resend_invite,
    revoke_invite,
    sender_name,
)
from activation_plugin.api.tallies import rebuild as rebuild_tallies
from activation_plugin.api.tallies import rebuild_missing as build_missing_tallies
from activation_plugin.api.tallies import recount as recount_tallies
from activation_plugin.api.windows import (
    assign_arm,
    expire_due_windows,
    learner_window,
    learner_windows,
    open_windows,
    windows_from_before_activation,
)
from activation_plugin.figures import (
    analytics,
    compare_arms,
    compare_runs,
    course_summaries,
    data_quality,
    difference_in_differences,
    evidence_csv_rows,
    figures_csv_rows,
    funnel,
    kpi_deltas,
    latest_run_against_previous,
    persistence,
    roi,
    roi_amounts,
    segments,
    summarize,
    windows_csv_rows,
)
from activation_plugin.figures.portfolio import SORTS as PORTFOLIO_SORTS
from activation_plugin.figures.portfolio import Filters as PortfolioFilters
from activation_plugin.figures.portfolio import csv_rows as portfolio_csv_rows
from activation_plugin.keys import catalog_course, parse_course_key

__all__ = [
    # Course keys.
    "catalog_course", "parse_course_key",
    # Definitions: authoring, versions, who may change them.
    "HISTORY_FIELDS", "MAX_HOLDOUT_PERCENT", "MAX_REQUIREMENTS", "activate_definition", "add_requirement",
    "archive_definition",
    "check_may_configure", "check_requirement", "create_definition", "definition_in_course", "definitions_for_course",
    "definitions_with_requirements", "new_version", "requirement_specs", "revise_definition", "superseded_by",
    "update_definition",
    # Completions and windows: the receivers' and the tick's entry points, backfill, the learner's view.
    "assign_arm", "backfill", "expire_due_windows", "learner_window", "learner_windows", "open_windows",
    "record_completion", "request_backfill", "retry_pending_completions", "tick", "windows_from_before_activation",
    "windows_in_course",
    # Evidence and its verification: learners, staff, peers, supervisors.
    "LEARNER_KINDS", "accepts_evidence", "project_is_settled", "current_peer_assignment", "evidence_detail_in_course",
    "evidence_in_course", "evidence_list_in_course", "invite_for_link", "invite_in_course", "invite_supervisor",
    "invites_for_course", "peer_review_waiting", "pending_reviews", "record_evidence", "record_supervisor_observation",
    "request_peer_assignment",
    "resend_invite", "review_evidence", "review_queue", "revoke_invite", "save_learner_response", "sender_name",
    "staff_review", "submit_peer_review",
    # Survey activation conditions written before they existed (migration 0015).
    "requirement_in_definition", "runs_seen_by", "set_activation_condition", "surveys_without_condition",
    # Follow-up messages and consent.
    "opt_out", "send_due_prompts", "settle_ambiguous_claims", "stale_claims",
    # KPI observations and their sources.
    "FutureObservation", "KPI_UPLOAD_DIR", "KPI_UPLOAD_MAX_AGE", "clean_external_id", "clean_observation",
    "declared_source_state", "finish_pull", "foreign_external_ids", "ingest_observations", "known_metrics",
    "link_identities",
    "metric_source", "parse_time", "record_id_of", "record_observation", "resolve_identities", "resolve_observations",
    "source_figures", "source_match_report", "sync_metric_source",
    # Figures (read-only, activation_plugin.figures), their exports and the plans they answer.
    "PRIMARY_FIGURES", "analytics", "compare_arms", "compare_runs", "course_summaries", "data_quality",
    "difference_in_differences", "evidence_csv_rows", "figures_csv_rows", "funnel", "kpi_deltas",
    "latest_run_against_previous", "page_figures", "persistence", "plan_comparison", "plan_status", "register_plan",
    "roi", "roi_amounts", "segments",
    # Every course a viewer may compare, side by side (issue 33).
    "PORTFOLIO_SORTS", "PortfolioFilters", "portfolio", "portfolio_csv_rows", "portfolio_definitions",
    "success_case_rows", "success_cases", "summarize", "windows_csv_rows",
    # The running totals the figures read: kept with every write, rebuilt on request (and by the tick).
    "build_missing_tallies", "rebuild_tallies", "recount_tallies",
    # Privacy, housekeeping and the plumbing adapters share.
    "MAX_ID", "register_background_work", "retire_user", "run_once", "sweep_orphan_files", "withdraw_window",
]
