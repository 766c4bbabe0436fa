"""
KPI ingestion: every channel (REST pull, Python connector, CSV upload, webhook) ends here.

Observations are cleaned, matched to learners, and upserted by (source, metric, external_id,
observed_at, record_id) in chunks of ``ACTIVATION_METRIC_BATCH_SIZE`` with one multi-row INSERT each, so a
re-run or a replayed delivery changes nothing and memory stays flat in the number of rows. A
record with a ``record_id`` is one observation per metric: delivered again with another time or
person, its stored observation moves.
After a delivery, only the learners whose observations changed are re-evaluated for metric
evidence, in batches.
"""
import math
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import figures, tracking
from activation_plugin.api import identity
from activation_plugin.api.metric_evidence import evaluate_metric_evidence, wake_kpi_nudges
from activation_plugin.api.tallies import retally_learners
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import IdentityLink, MetricObservation, MetricSource

MAX_ERRORS_KEPT = 20
EPOCH_MS_FROM = 1e11  # 5138 in epoch seconds, 1973 in epoch milliseconds


class FutureObservation(ActivationRequestError):
    """Dated after now (beyond the clock-skew tolerance): counted apart from malformed records."""


COLUMNS = ("source_id", "metric", "external_id", "user_id", "observed_at", "value", "received_at", "record_id")


def parse_time(value):
    """
    An aware datetime from ISO 8601 text (a naive one is taken as UTC) or a Unix timestamp, in
    seconds or, from ``EPOCH_MS_FROM`` on, milliseconds.

    Raises:
        ActivationRequestError: anything else.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        try:
            # Epoch milliseconds (HubSpot, Salesforce, many JavaScript APIs): in seconds, any value
            # this large would be after the year 5000.
            moment = datetime.fromtimestamp(value / 1000 if abs(value) >= EPOCH_MS_FROM else value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ActivationRequestError(_("The observation time is out of range."), field="observed_at") from exc
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ActivationRequestError(_("{value} is not an ISO 8601 time.").format(value=repr(value[:40])),
                                         field="observed_at") from exc
    else:
        raise ActivationRequestError(_("The observation time is missing."), field="observed_at")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if not 1970 <= moment.year <= 9998:
        raise ActivationRequestError(_("The observation time is out of range."), field="observed_at")
    return moment.astimezone(UTC)


def _number(value):
    if isinstance(value, bool):
        raise ActivationRequestError(_("The value must be a number."), field="value")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError) as exc:
        raise ActivationRequestError(_("The value must be a number."), field="value") from exc
    if not math.isfinite(number) or abs(number) >= 1e15:
        raise ActivationRequestError(_("The value must be a finite number."), field="value")
    return number


def _text(value, field, max_length):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ActivationRequestError(_("The {field} must be text.").format(field=field.replace("_", " ")), field=field)
    text = str(value).strip()
    if not text or len(text) > max_length or "\x00" in text:
        raise ActivationRequestError(_("The {field} must be 1 to {max_length} characters.").format(
            field=field.replace("_", " "), max_length=max_length), field=field)
    return text


def clean_external_id(value):
    """
    An external id, stripped.

    Raises:
        ActivationRequestError: empty, over 255 characters, or not text.
    """
    return _text(value, "external_id", 255)


def clean_observation(record, now=None):
    """
    ``(metric, external_id, observed_at, value)`` from a mapped record, checked.

    Raises:
        ActivationRequestError: a missing or malformed field, or a time in the future.
    """
    if not isinstance(record, dict):
        raise ActivationRequestError(_("An observation must be an object."), field="observation")
    observed_at = parse_time(record.get("observed_at"))
    now = now or timezone.now()
    if observed_at > now + timedelta(seconds=settings.ACTIVATION_METRIC_FUTURE_TOLERANCE_SECONDS):
        raise FutureObservation(_("The observation is dated in the future."), field="observed_at")
    return (_text(record.get("metric"), "metric", 100), _text(record.get("external_id"), "external_id", 255),
            observed_at, _number(record.get("value")))


def record_id_of(record):
    """
    The source's own id of a mapped record (``record_id``), or "" where it has none: two tickets
    one agent closed in the same second are two observations only if their ids tell them apart.

    Raises:
        ActivationRequestError: an id that is not text or a number, or over 255 characters.
    """
    value = record.get("record_id") if isinstance(record, dict) else None
    return "" if value in (None, "") else _text(value, "record_id", 255)


def _insert_sql():
    """
    A multi-row insert that skips rows already stored and reports how many it inserted: on
    MariaDB ``INSERT IGNORE`` counts only inserted rows whatever the connection's FOUND_ROWS
    flag (the values were checked beforehand, so IGNORE hides no truncation).
    """
    table = connection.ops.quote_name(MetricObservation._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in COLUMNS)
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    # Only placeholders in VALUES: MySQLdb then sends one multi-row INSERT per executemany.
    if connection.vendor == "mysql":
        return f"INSERT IGNORE INTO {table} ({columns}) VALUES ({placeholders})"
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"


class _Ingest:
    """The running totals of one delivery."""

    def __init__(self, source, now, strict, resolved, learners=None):
        self.source, self.now, self.strict, self.learners = source, now, strict, learners
        self.counts = {"received": 0, "stored": 0, "updated": 0, "duplicates": 0, "rejected": 0, "future": 0,
                       "matched": 0}
        self.errors, self.high_water, self.users = [], None, set()
        self.resolved = {} if resolved is None else resolved

    def clean(self, chunk, offset):
        """
        ``{(metric, external_id, observed_at, record_id): value}`` of the valid records, the last one
        winning for a repeated key, or for a repeated record (metric and ``record_id``). A strict
        delivery (the webhook) fails whole on the first bad record; otherwise bad records are
        counted and the first MAX_ERRORS_KEPT explained.
        """
        rows, records = {}, {}
        for index, record in enumerate(chunk, start=offset):
            self.counts["received"] += 1
            try:
                metric, external_id, observed_at, value = clean_observation(record, self.now)
                record_id = record_id_of(record)
            except ActivationRequestError as exc:
                if self.strict:
                    raise ActivationRequestError(_("Record {number}: {error}").format(number=index + 1, error=exc),
                                                 field=exc.field) from exc
                self.counts["future" if isinstance(exc, FutureObservation) else "rejected"] += 1
                if len(self.errors) < MAX_ERRORS_KEPT:
                    self.errors.append({"record": index + 1, "field": exc.field, "error": str(exc)})
                continue
            key = (metric, external_id, observed_at, record_id)
            earlier = records.get((metric, record_id)) if record_id else key
            if earlier in rows:
                self.counts["duplicates"] += 1
                del rows[earlier]
            rows[key] = value
            if record_id:
                records[(metric, record_id)] = key
            if self.high_water is None or observed_at > self.high_water:
                self.high_water = observed_at
        return rows

    def users_for(self, external_ids):
        unknown = [external_id for external_id in external_ids if external_id not in self.resolved]
        if unknown:
            matched, _ambiguous = identity.resolve(self.source, unknown)
            self.resolved.update({external_id: matched.get(external_id) for external_id in unknown})
        return self.resolved

    def write(self, rows):
        """
        Insert the chunk, skipping rows already stored. Only when some were already there (a
        replay or an overlapping pull) are they read back, to correct changed values and tell
        duplicates apart; new data, the usual case, costs one statement.
        """
        if not rows:
            return
        users = self.users_for({key[1] for key in rows})
        if self.learners is not None:
            outsiders = sorted({key[1] for key in rows} -
                               {external_id for external_id, user in users.items() if user in self.learners})
            if outsiders:
                raise ActivationRequestError(
                    _("{external_id} is not a learner of this course: course staff store observations of their "
                      "own learners only.").format(external_id=outsiders[0]), field="external_id")
        moved = self._move_records(rows, users)
        rows = {key: value for key, value in rows.items() if key not in moved}
        if not rows:
            return
        adapt = connection.ops.adapt_datetimefield_value
        received = adapt(self.now)
        with connection.cursor() as cursor:
            cursor.executemany(_insert_sql(), [
                (self.source.pk, metric, external_id, users[external_id], adapt(observed_at), value, received,
                 record_id)
                for (metric, external_id, observed_at, record_id), value in rows.items()
            ])
            inserted = cursor.rowcount
        self.counts["stored"] += inserted
        self.counts["matched"] += sum(1 for key in rows if users[key[1]] is not None)
        matched = {users[key[1]] for key in rows} - {None}
        if inserted == len(rows):
            self.users |= matched
            return
        changed = self._correct(rows)
        self.counts["updated"] += len(changed)
        self.counts["duplicates"] += len(rows) - inserted - len(changed)
        # Which rows of a mixed chunk were new is unknown: re-evaluating all its learners is harmless.
        self.users |= matched if inserted else {users[external_id] for external_id in changed} - {None}

    def _move_records(self, rows, users):
        """
        Rows whose record (metric and ``record_id``) is stored under another person or time: a
        reopened ticket solved again, a deal given to another owner. That observation takes this
        delivery's values, and copies of it that the older key kept apart are folded into it.
        Returns the keys so handled.
        """
        wanted = {(key[0], key[3]): key for key in rows if key[3]}
        if not wanted:
            return set()
        stored = MetricObservation.objects.filter(
            source=self.source, metric__in={metric for metric, _record in wanted},
            record_id__in={record for _metric, record in wanted},
        ).order_by("-observed_at", "-pk").values_list("pk", "metric", "record_id", "external_id", "observed_at",
                                                      "user_id")
        kept, copies, moved = set(), [], set()
        for pk, metric, record_id, external_id, observed_at, user_id in stored:
            key = wanted.get((metric, record_id))
            if key is None:
                continue
            if (metric, record_id) in kept:
                copies.append(pk)
                self.users.add(user_id)
                continue
            kept.add((metric, record_id))
            if (external_id, observed_at) != (key[1], key[2]):
                moved.add((key, pk))
                self.users |= {user_id, users[key[1]]}
        self.users.discard(None)
        MetricObservation.objects.filter(pk__in=copies).delete()
        for key, pk in moved:
            MetricObservation.objects.filter(pk=pk).update(external_id=key[1], observed_at=key[2], value=rows[key],
                                                           user_id=users[key[1]])
        self.counts["updated"] += len(moved)
        self.counts["matched"] += sum(1 for key, _pk in moved if users[key[1]] is not None)
        return {key for key, _pk in moved}

    def _correct(self, rows):
        """Update stored values that differ from this delivery's; the external ids of those changed."""
        times = [key[2] for key in rows]
        stored = MetricObservation.objects.filter(
            source=self.source, metric__in={key[0] for key in rows}, external_id__in={key[1] for key in rows},
            observed_at__gte=min(times), observed_at__lte=max(times),
        ).values_list("pk", "metric", "external_id", "observed_at", "record_id", "value")
        changed = []
        for pk, metric, external_id, observed_at, record_id, value in stored:
            wanted = rows.get((metric, external_id, observed_at, record_id))
            if wanted is not None and wanted != value:
                MetricObservation.objects.filter(pk=pk).update(value=wanted)
                changed.append(external_id)
        return changed


def _chunks(records, size):
    iterator = iter(records)
    offset = 0
    while chunk := list(islice(iterator, size)):
        yield offset, chunk
        offset += len(chunk)


def _take_turn(source):
    """
    Lock the source's row before anything else: deliveries of one source then run one after the
    other. Without it two deliveries each took a shared lock on the row (the foreign key check of
    their inserts), then both waited for the other's to update its counters: a deadlock. The turn
    also orders every later lock (observations, windows, tallies) between them.
    """
    list(MetricSource.objects.select_for_update().filter(pk=source.pk).values_list("pk", flat=True))


def ingest_observations(source, records, *, strict=False, now=None, resolved=None, learners=None):
    """
    Upsert a stream of mapped records (dicts with ``external_id``, ``metric``, ``value``,
    ``observed_at`` and, where the source has one, ``record_id``) into ``source``, then wake KPI
    nudges and evaluate metric evidence of the learners whose observations changed.

    A delivery (a page, a webhook body, a CSV file) is one transaction: it is stored whole or
    not at all. Deliveries of one source take turns (its row is locked first), so they never
    deadlock one another. Bad records are counted and skipped, or with ``strict`` (CSV and webhook
    deliveries) the first one raises and nothing is stored. ``resolved`` is a dict a caller
    keeps across the pages of one run, so each external id is matched to a learner once.
    ``learners`` (a set of user ids) bounds whom the delivery may be about: course staff upload
    observations of their own run's learners only, never another course's (nor ids matching
    nobody yet, which a later link could attach to anyone).

    Returns:
        dict: counts (received, stored, updated, duplicates, rejected, future, matched), the
        first errors (record number, field, message) and ``high_water`` (latest time seen).

    Raises:
        ActivationRequestError: in strict mode, the first bad record, numbered from 1; with
            ``learners``, the first id that is none of theirs.
    """
    now = now or timezone.now()
    run = _Ingest(source, now, strict, resolved, learners)
    with transaction.atomic():
        _take_turn(source)
        for offset, chunk in _chunks(records, settings.ACTIVATION_METRIC_BATCH_SIZE):
            run.write(run.clean(chunk, offset))
        MetricSource.objects.filter(pk=source.pk).update(
            records_pulled=F("records_pulled") + run.counts["received"],
            records_rejected=F("records_rejected") + run.counts["rejected"],
            duplicates_dropped=F("duplicates_dropped") + run.counts["duplicates"],
            future_dropped=F("future_dropped") + run.counts["future"],
        )
        if run.users:
            wake_kpi_nudges(run.users, now)
            evaluate_metric_evidence(run.users)
            retally_learners(run.users)
        if run.counts["stored"] or run.counts["updated"]:
            figures.invalidate_observations()  # KPI deltas, DiD and data quality of every definition using them
    return {**run.counts, "errors": run.errors, "high_water": run.high_water}


def link_identities(source, links, allowed_users=None):
    """
    Record explicit links ``(external_id, user)`` (an uploaded mapping, or an id a learner
    entered), replacing earlier links of those ids, then re-resolve those ids' observations.

    Args:
        allowed_users: the ids of the learners the uploader may see (course staff: their run's), or
            None (an operator). An id already belonging to anyone else, by an explicit link or by
            resolution, cannot be moved: it would carry another run's observations over, and the
            count of observations re-matched would tell of them.

    Returns:
        dict: ``linked`` and the re-resolution counts.

    Raises:
        ActivationRequestError: an empty or overlong external id, or one outside the uploader's scope.
    """
    links = [(clean_external_id(external_id), user) for external_id, user in links]
    if allowed_users is not None:
        foreign = foreign_external_ids(source, [external_id for external_id, _user in links], allowed_users)
        if foreign:
            raise ActivationRequestError(
                _("{external_id} belongs to a learner outside your course run: ask an operator to link it.")
                .format(external_id=foreign[0]), field="external_id")
    with transaction.atomic():
        for external_id, user in links:
            IdentityLink.objects.update_or_create(
                source=source, external_id=external_id,
                defaults={"user": user, "method": IdentityLink.Method.EXPLICIT},
            )
    return {"linked": len(links), **resolve_observations(source, [external_id for external_id, _user in links])}


def foreign_external_ids(source, external_ids, allowed_users, chunk=1000):
    """
    The ids, in their order, that are linked, or resolve, to a learner outside ``allowed_users``: those
    an upload of course staff may not move (``link_identities``), which its preview marks.
    """
    allowed, foreign = set(allowed_users), []
    for _offset, ids in _chunks(external_ids, chunk):
        matched, _ambiguous = identity.resolve(source, ids)
        owners = dict(IdentityLink.objects.filter(source=source, external_id__in=ids)
                      .values_list("external_id", "user_id"))
        foreign += [external_id for external_id in ids
                    if {matched.get(external_id), owners.get(external_id)} - {None} - allowed]
    return foreign


def resolve_observations(source, external_ids=None, batch_size=1000):
    """
    Match stored observations to learners again (after new links or new accounts), fixing the
    user of old observations, then re-evaluate metric evidence of every learner concerned.

    Returns:
        dict: ``relinked`` observations.
    """
    if external_ids is None:
        external_ids = (MetricObservation.objects.filter(source=source).order_by("external_id")
                        .values_list("external_id", flat=True).distinct().iterator(chunk_size=batch_size))
    relinked, users = 0, set()
    for _offset, chunk in _chunks(external_ids, batch_size):
        matched, _ambiguous = identity.resolve(source, chunk)
        with transaction.atomic():
            chunk_users = set()
            for external_id in chunk:
                user_id = matched.get(external_id)
                stale = MetricObservation.objects.filter(source=source, external_id=external_id).exclude(
                    user_id=user_id) if user_id is not None else MetricObservation.objects.filter(
                    source=source, external_id=external_id, user__isnull=False)
                chunk_users.update(stale.exclude(user__isnull=True).values_list("user_id", flat=True).distinct())
                changed = stale.update(user_id=user_id)
                relinked += changed
                if user_id is not None:
                    chunk_users.add(user_id)
                    if changed:
                        tracking.observations_matched(source, user_id, changed, timezone.now())
            retally_learners(chunk_users)
        users |= chunk_users
    if users:
        evaluate_metric_evidence(users)
    if relinked:
        figures.invalidate_observations()
    return {"relinked": relinked}
