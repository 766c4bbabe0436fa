"""
CSV files from staff: observations (``external_id, metric, value, observed_at``) or explicit
identity links (``external_id, user`` with a username or email). Read as a stream, so a large
file never sits in memory; a preview checks every row before anything is written, and the
commit is all-or-nothing.
"""
import codecs
import csv

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext as _

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError

OBSERVATION_COLUMNS = ("external_id", "metric", "value", "observed_at")
LINK_COLUMNS = ("external_id", "user")
KINDS = {"observations": OBSERVATION_COLUMNS, "links": LINK_COLUMNS}
SHOWN_ROWS = 20
SHOWN_ERRORS = 50
MAX_FIELD_CHARS = 1000


def rows(binary_file, kind):
    """
    ``(line number, dict)`` for each data row.

    Raises:
        ActivationRequestError: not UTF-8, not CSV, or a missing column (the message names it).
    """
    columns = KINDS[kind]
    text = codecs.getreader("utf-8-sig")(binary_file, errors="strict")
    reader = csv.reader(text)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [column for column in columns if column not in header]
        if missing:
            raise ActivationRequestError(_("The header row lacks the column(s) {missing}; expected {columns}.").format(
                missing=", ".join(missing), columns=", ".join(columns)), field="file")
        positions = {column: header.index(column) for column in columns}
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            yield reader.line_num, {column: values[index] if index < len(values) else ""
                                    for column, index in positions.items()}
    except UnicodeDecodeError as exc:
        raise ActivationRequestError(_("The file is not UTF-8 text."), field="file") from exc
    except csv.Error as exc:
        raise ActivationRequestError(_("Line {line}: not valid CSV ({error}).").format(line=reader.line_num, error=exc),
                                     field="file") from exc


def _check_observation(record):
    if any(len(value) > MAX_FIELD_CHARS for value in record.values()):
        raise ActivationRequestError(_("A field is too long."), field="file")
    return api.clean_observation(record)


def _check_link(record, allowed_users):
    """``(external_id, user)`` of a links row: the user must be exactly one account (among ``allowed_users``)."""
    external_id = api.clean_external_id(record["external_id"])
    value = record["user"].strip()[:MAX_FIELD_CHARS]
    users = get_user_model().objects.filter(Q(username=value) | Q(email=value))
    if allowed_users is not None:
        users = users.filter(pk__in=allowed_users)
    users = list(users[:2])
    if len(users) != 1:
        raise ActivationRequestError(
            _("{value} is not exactly one learner you may link.").format(value=repr(value[:80])), field="user")
    return external_id, users[0]


def preview(source, binary_file, kind, allowed_users=None):
    """
    Every row checked, nothing written: totals, the first rows with their learner match, and
    row-level errors (line number, field, message).

    Raises:
        ActivationRequestError: the file as a whole cannot be read.
    """
    report = {"kind": kind, "rows": 0, "valid": 0, "errors": [], "error_count": 0, "shown": [],
              "matched_ids": 0, "unmatched_ids": [], "unmatched_count": 0, "ambiguous_ids": []}
    ids = {}  # each id and the line it first appears on
    for line, record in rows(binary_file, kind):
        report["rows"] += 1
        try:
            if kind == "observations":
                metric, external_id, observed_at, value = _check_observation(record)
                shown = {"line": line, "external_id": external_id, "metric": metric, "value": value,
                         "observed_at": observed_at}
            else:
                external_id, user = _check_link(record, allowed_users)
                shown = {"line": line, "external_id": external_id, "user": user.username, "match": "matched"}
        except ActivationRequestError as exc:
            report["error_count"] += 1
            if len(report["errors"]) < SHOWN_ERRORS:
                report["errors"].append({"line": line, "field": exc.field, "error": str(exc)})
            continue
        report["valid"] += 1
        ids.setdefault(external_id, line)
        if len(report["shown"]) < SHOWN_ROWS:
            report["shown"].append(shown)
    if kind == "observations":
        _match_summary(source, ids, report, allowed_users)
    elif allowed_users is not None:
        _foreign_links(source, ids, report, allowed_users)
    return report


def _foreign_links(source, ids, report, allowed_users):
    """Ids another run's learner has: course staff's links would move their observations (refused at commit)."""
    for external_id in api.foreign_external_ids(source, sorted(ids), allowed_users.values_list("user_id", flat=True)):
        report["error_count"] += 1
        if len(report["errors"]) < SHOWN_ERRORS:
            report["errors"].append({"line": ids[external_id], "field": "external_id", "error": _(
                "{external_id} belongs to a learner outside your course run: ask an operator to link it.").format(
                external_id=external_id)})


def _match_summary(source, ids, report, allowed_users, chunk=2000):
    """
    How many ids match a learner. For course staff (``allowed_users``: their run's learners) an id
    of anyone else counts as unmatched, the same answer as an id nobody has: the preview must not
    tell whether some account exists elsewhere on the platform. Course staff store observations of
    their own learners only, so then nothing unmatched can be committed (``report["blocked"]``).
    """
    allowed = None if allowed_users is None else set(allowed_users.values_list("user_id", flat=True))
    ordered = sorted(ids)
    for start in range(0, len(ordered), chunk):
        matched, ambiguous = api.resolve_identities(source, ordered[start:start + chunk])
        if allowed is not None:
            matched = {external_id: user for external_id, user in matched.items() if user in allowed}
            ambiguous = set()
        report["matched_ids"] += len(matched)
        for external_id in ordered[start:start + chunk]:
            if external_id in ambiguous:
                report["ambiguous_ids"].append(external_id)
            elif external_id not in matched:
                report["unmatched_count"] += 1
                if len(report["unmatched_ids"]) < SHOWN_ERRORS:
                    report["unmatched_ids"].append(external_id)
        for row in report["shown"]:
            if row["external_id"] in ordered[start:start + chunk]:
                row["match"] = "matched" if row["external_id"] in matched else \
                    "ambiguous" if row["external_id"] in ambiguous else "unmatched"
    report["ambiguous_ids"] = report["ambiguous_ids"][:SHOWN_ERRORS]
    report["blocked"] = allowed is not None and bool(report["unmatched_count"])
    # One reason fits every unmatched id: course staff must not learn whether an account exists elsewhere.
    report["unmatched_reason"] = (
        _("no completer of this course run has this username or email, nor an identity link to it")
        if allowed is not None else _("no account has this username or email, and no identity link names it"))


def observation_records(binary_file):
    """The file's rows as records for ``api.ingest_observations``, streamed."""
    for line, record in rows(binary_file, "observations"):
        if any(len(value) > MAX_FIELD_CHARS for value in record.values()):
            raise ActivationRequestError(_("Line {line}: a field is too long.").format(line=line), field="file")
        yield record


def link_rows(binary_file, allowed_users=None):
    """
    ``(external_id, user)`` pairs of a links file.

    Raises:
        ActivationRequestError: the first bad row, with its line number.
    """
    pairs = []
    for line, record in rows(binary_file, "links"):
        try:
            pairs.append(_check_link(record, allowed_users))
        except ActivationRequestError as exc:
            raise ActivationRequestError(_("Line {line}: {error}").format(line=line, error=exc),
                                         field=exc.field) from exc
    return pairs
