"""
The python API of activation-plugin (OEP-49): what other apps and operators' scripts call.

The names in ``__all__`` are the public API, documented in docs/references/api.rst. They return
the data objects of ``activation_plugin.data`` and plain values (dicts, counts, course keys), never
a model or a queryset, and accept a definition or a KPI source as its data object. They are kept,
and deprecated before they go (docs/decisions/0017-the-public-front.rst).

Errors are raised as ``activation_plugin.errors`` classes; every write runs in a transaction and
every externally-triggered write is idempotent (the key is stored with the write:
docs/decisions/0008-idempotency.rst). The package is also the only code that writes the models:
one module per concept, which the plugin's own pages, REST views, commands and connectors call
(their rows are what those render). Every other name here, and every name of those modules, is
internal and may change without notice.
"""
from activation_plugin.api.background import page_figures, request_backfill
from activation_plugin.api.completions import retry_pending_completions, tick
from activation_plugin.api.conditions import set_activation_condition, surveys_without_condition
from activation_plugin.api.definitions import (
    HISTORY_FIELDS,
    MAX_HOLDOUT_PERCENT,
    MAX_REQUIREMENTS,
    add_requirement,
    check_may_configure,
    check_requirement,
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
from activation_plugin.api.metric_sources import declared_source_state, known_metrics, metric_source
from activation_plugin.api.metrics import (
    FutureObservation,
    clean_external_id,
    clean_observation,
    foreign_external_ids,
    parse_time,
    record_id_of,
)
from activation_plugin.api.observations import record_observation
from activation_plugin.api.peer import (
    current_peer_assignment,
    peer_review_waiting,
    request_peer_assignment,
    submit_peer_review,
)
from activation_plugin.api.plans import PRIMARY_FIGURES, plan_status
from activation_plugin.api.portfolio import portfolio, portfolio_definitions
from activation_plugin.api.privacy import retire_user, withdraw_window
from activation_plugin.api.public import (
    activate_definition,
    analytics,
    archive_definition,
    backfill,
    compare_arms,
    compare_runs,
    create_definition,
    data_quality,
    definition_in_course,
    definitions_for_course,
    difference_in_differences,
    finish_pull,
    ingest_observations,
    kpi_deltas,
    link_identities,
    plan_comparison,
    rebuild_tallies,
    record_completion,
    register_plan,
    resolve_observations,
    roi,
    segments,
    summarize,
    sync_metric_source,
)
from activation_plugin.api.queries import (
    MAX_ID,
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
    course_summaries,
    evidence_csv_rows,
    figures_csv_rows,
    funnel,
    latest_run_against_previous,
    persistence,
    roi_amounts,
    windows_csv_rows,
)
from activation_plugin.figures.portfolio import SORTS as PORTFOLIO_SORTS
from activation_plugin.figures.portfolio import Filters as PortfolioFilters
from activation_plugin.figures.portfolio import csv_rows as portfolio_csv_rows
from activation_plugin.keys import catalog_course, parse_course_key

__all__ = [
    # Course keys.
    "catalog_course", "parse_course_key",
    # Definitions: authoring and who may change them.
    "activate_definition", "archive_definition", "check_may_configure", "create_definition", "definition_in_course",
    "definitions_for_course",
    # Completions: the receivers' entry point, the periodic tick, backfill and the running totals' rebuild.
    "backfill", "rebuild_tallies", "record_completion", "tick",
    # Privacy: the platform's retirement pipeline.
    "retire_user",
    # KPI connectors: a source's state, its records, its identities, the outcome of a run.
    "clean_observation", "finish_pull", "ingest_observations", "link_identities", "resolve_observations",
    "sync_metric_source",
    # Figures (read-only) and the comparison plan they answer.
    "analytics", "compare_arms", "compare_runs", "data_quality", "difference_in_differences", "kpi_deltas",
    "plan_comparison", "register_plan", "roi", "segments", "summarize",
]
