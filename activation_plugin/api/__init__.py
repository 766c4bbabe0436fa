"""
The python API of activation-plugin: the only code that writes its models.

Receivers, tasks, views, REST endpoints and management commands are thin adapters that call the
functions exported here (one module per concept below). Errors are raised as
``activation_plugin.errors`` classes; every write runs in a transaction and every
externally-triggered write is idempotent (unique keys, not checks-then-insert).
"""
from activation_plugin.api.background import page_figures, request_backfill
from activation_plugin.api.background import register as register_background_work
from activation_plugin.api.backfill import backfill
from activation_plugin.api.files import KPI_UPLOAD_DIR, KPI_UPLOAD_MAX_AGE, sweep_orphan_files
from activation_plugin.api.idempotency import digest, forget_idempotency_keys, run_once
from activation_plugin.api.completions import record_completion, retry_pending_completions, tick
from activation_plugin.api.definitions import (
    HISTORY_FIELDS,
    MAX_HOLDOUT_PERCENT,
    activate_definition,
    add_requirement,
    archive_definition,
    check_may_configure,
    check_requirement,
    create_definition,
    definition_is_locked,
    definitions_for_course,
    new_version,
    requirement_specs,
    revise_definition,
    update_definition,
)
from activation_plugin.api.evidence import (
    evaluate_window,
    evidence_in_course,
    pending_reviews,
    record_evidence,
    review_evidence,
    review_queue,
    save_learner_response,
)
from activation_plugin.api.messaging import opt_out, send_due_prompts
from activation_plugin.api.metric_evidence import evaluate_metric_evidence, wake_kpi_nudges
from activation_plugin.api.identity import resolve as resolve_identities
from activation_plugin.api.metric_sources import (
    declared_source_state,
    finish_pull,
    known_metrics,
    metric_source,
    sync_metric_source,
)
from activation_plugin.api.source_quality import match_report as source_match_report
from activation_plugin.api.source_quality import source_figures
from activation_plugin.api.metrics import (
    clean_external_id,
    clean_observation,
    ingest_observations,
    link_identities,
    parse_time,
    record_id_of,
    resolve_observations,
)
from activation_plugin.api.observations import record_observation
from activation_plugin.api.success_cases import success_case_rows, success_cases
from activation_plugin.api.plans import PRIMARY_FIGURES, plan_comparison, plan_status, register_plan
from activation_plugin.api.peer import (
    current_peer_assignment,
    peer_review_waiting,
    request_peer_assignment,
    submit_peer_review,
)
from activation_plugin.api.privacy import retire_user, withdraw_window
from activation_plugin.api.queries import (
    MAX_ID,
    definition_in_course,
    definitions_with_requirements,
    evidence_detail_in_course,
    evidence_list_in_course,
    windows_in_course,
)
from activation_plugin.api.supervision import (
    invite_for_link,
    invite_in_course,
    invites_for_course,
    invite_supervisor,
    record_supervisor_observation,
    resend_invite,
    revoke_invite,
    sender_name,
)
from activation_plugin.api.windows import (
    assign_arm,
    expire_due_windows,
    learner_window,
    learner_windows,
    open_windows,
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
    persistence,
    roi,
    roi_amounts,
    segments,
    summarize,
    windows_csv_rows,
)
from activation_plugin.keys import catalog_course, parse_course_key

__all__ = [
    "HISTORY_FIELDS", "KPI_UPLOAD_DIR", "KPI_UPLOAD_MAX_AGE", "MAX_HOLDOUT_PERCENT", "MAX_ID",
    "activate_definition", "add_requirement", "backfill", "register_background_work", "request_backfill", "archive_definition", "assign_arm", "catalog_course",
    "course_summaries", "current_peer_assignment", "digest", "forget_idempotency_keys", "run_once", "peer_review_waiting", "request_peer_assignment", "submit_peer_review", "check_may_configure", "check_requirement", "create_definition", "definition_is_locked", "definitions_for_course", "evaluate_window",
    "evidence_in_course", "pending_reviews", "expire_due_windows", "invite_for_link", "invite_in_course", "invites_for_course", "invite_supervisor", "learner_window",
    "learner_windows", "new_version", "open_windows", "record_completion", "retry_pending_completions", "opt_out", "parse_course_key", "record_evidence", "record_observation",
    "PRIMARY_FIGURES", "plan_comparison", "plan_status", "success_case_rows", "success_cases", "record_supervisor_observation", "register_plan", "requirement_specs", "resend_invite", "retire_user", "review_evidence", "review_queue",
    "revise_definition", "revoke_invite", "sender_name", "sweep_orphan_files", "save_learner_response", "send_due_prompts", "summarize", "tick", "update_definition", "withdraw_window",
    # Figures (read-only): activation_plugin.figures.
    "analytics", "compare_arms", "compare_runs", "data_quality", "difference_in_differences", "evidence_csv_rows",
    "figures_csv_rows", "funnel", "kpi_deltas", "page_figures", "persistence", "roi", "roi_amounts", "segments",
    "windows_csv_rows", "definition_in_course", "definitions_with_requirements", "evidence_detail_in_course", "evidence_list_in_course",
    "windows_in_course",
    "clean_external_id", "clean_observation", "evaluate_metric_evidence", "finish_pull", "ingest_observations", "known_metrics", "declared_source_state", "resolve_identities", "source_figures",
    "source_match_report",
    "link_identities", "metric_source", "parse_time", "record_id_of", "resolve_observations", "sync_metric_source", "wake_kpi_nudges",
]
