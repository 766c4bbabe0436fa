"""
Data model of activation-plugin.

Only ``activation_plugin.api`` writes these models; everything else reads them or calls the api.
Names of models, fields and choice values are a contract (see docs/decisions/0001-data-model.rst).
"""
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils.translation import gettext_lazy as _
from opaque_keys.edx.django.models import CourseKeyField


class ActivationDefinition(models.Model):
    """
    What counts as applying a course's skill, for the completers of a course.

    A definition is authored in one course run (``course_key``) and covers every run of the same
    catalog course (``catalog_course``: ``org+course``), so a learner who passes two runs keeps one
    window and runs can be compared with each other.

    .. pii: The account ids of the instructors who created it and registered its comparison plan.
    .. pii_types: id
    .. pii_retirement: local_api
    """

    class Trigger(models.TextChoices):
        PASSING = "passing", _("Learner passes the course")
        CERTIFICATE = "certificate", _("Learner earns a certificate")

    class Rule(models.TextChoices):
        ANY = "any", _("Any one requirement")
        ALL = "all", _("All requirements")
        AT_LEAST = "at_least", _("At least k requirements")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    course_key = CourseKeyField(max_length=255, db_index=True)
    catalog_course = models.CharField(max_length=255, editable=False)
    name = models.CharField(max_length=255)
    behavior = models.TextField(help_text=_("What the learner should do on the job."))
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.PASSING)
    window_days = models.PositiveIntegerField()
    rule = models.CharField(max_length=16, choices=Rule.choices, default=Rule.ANY)
    rule_count = models.PositiveSmallIntegerField(null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(default=0)
    holdout_seed = models.CharField(max_length=32, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    backfilled_at = models.DateTimeField(
        null=True, blank=True,
        help_text=_("When windows were last opened for completers the events missed (activation_backfill)."),
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text=_("The definition this one is a new version of; activating this one archives it."),
    )
    comparison_plan = models.JSONField(
        default=dict, blank=True,
        help_text=_("The pre-registered comparison (hypothesis, primary figure, sample size, end date), "
                    "written once before the results are read."),
    )
    tallies_built_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When its running totals (the tallies the figures read) were last rebuilt from the windows; "
                    "empty until then, and the figures are counted from the windows themselves."),
    )

    class Meta:
        indexes = [models.Index(fields=["catalog_course", "status"], name="act_def_catalog_status")]

    def __str__(self):
        return f"{self.name} ({self.course_key})"


class EvidenceRequirement(models.Model):
    """
    One kind of evidence a definition asks for, with its kind-specific config and who verifies it.

    .. no_pii: Configuration written by instructors.
    """

    class Kind(models.TextChoices):
        PROJECT = "project", _("Applied project")
        SURVEY = "survey", _("Survey")
        OBSERVATION = "observation", _("Supervisor observation")
        METRIC = "metric", _("KPI threshold")

    class Verification(models.TextChoices):
        NONE = "none", _("No verification (self-report)")
        PEER = "peer", _("Peer review")
        STAFF = "staff", _("Staff review")
        SUPERVISOR = "supervisor", _("Supervisor")

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="requirements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=255)
    config = models.JSONField(default=dict, blank=True)
    verification = models.CharField(max_length=16, choices=Verification.choices, default=Verification.NONE)
    reviews_required = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.title} [{self.kind}]"


class FollowUpPrompt(models.Model):
    """
    A message sent to completers a number of days after their window opens, with reminders.

    .. no_pii: Templates written by instructors.
    """

    class Condition(models.TextChoices):
        ALWAYS = "always", _("On its day")
        NO_EVIDENCE = "no_evidence", _("On its day, only if the learner has not responded")
        METRIC_OBSERVED = "metric_observed", _("When a KPI observation arrives for the learner")

    requirement = models.ForeignKey(EvidenceRequirement, on_delete=models.CASCADE, related_name="prompts")
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.ALWAYS)
    metric = models.CharField(max_length=100, blank=True,
                              help_text=_("For KPI nudges: the metric whose observation triggers it (any if blank)."))
    send_after_days = models.PositiveIntegerField(default=0)
    reminder_days = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    translations = models.JSONField(
        default=dict, blank=True,
        help_text=_('Subject and body in other languages: {"fr": {"subject": …, "body": …}}.'))

    def __str__(self):
        return f"{self.subject} (day {self.send_after_days})"

    def text_for(self, language):
        """``(subject, body)`` in the learner's language (or its base language), else the default."""
        for code in (language or "", (language or "").split("-")[0]):
            if code in self.translations:
                return self.translations[code]["subject"], self.translations[code]["body"]
        return self.subject, self.body


class ActivationWindow(models.Model):
    """
    One completer's chance to activate: opens at completion, closes ``window_days`` later.

    ``unique(definition, user)`` is what makes replayed completion events harmless.

    .. pii: Links a learner to a course, their enrollment segment and the outcome of their window.
    .. pii_types: id
    .. pii_retirement: retained
    """

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ACTIVATED = "activated", _("Activated")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Arm(models.TextChoices):
        PROMPTED = "prompted", _("Prompted")
        HOLDOUT = "holdout", _("Holdout")

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="windows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course_run = CourseKeyField(max_length=255)
    trigger = models.CharField(max_length=16, choices=ActivationDefinition.Trigger.choices)
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    activated_at = models.DateTimeField(null=True, blank=True)
    days_to_activation = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Whole days from opening to activation, for time-to-activation curves."),
    )
    arm = models.CharField(max_length=16, choices=Arm.choices, default=Arm.PROMPTED)
    enrollment_mode = models.CharField(max_length=100, blank=True)
    org = models.CharField(max_length=255, blank=True)
    cohort = models.CharField(max_length=255, blank=True)
    next_action_at = models.DateTimeField(null=True, blank=True, db_index=True)
    verified_strengths = models.CharField(
        max_length=80, blank=True, default="",
        help_text=_("The strengths of the window's verified evidence, as ',peer,staff,': the headline counts "
                    "activations by strength in its single pass over the windows."),
    )
    tallied = models.JSONField(
        null=True, blank=True, editable=False,
        help_text=_("What this window adds to its definition's tallies, as last counted: a change to the window "
                    "moves exactly this much, however often it is counted again."),
    )
    # Set when the tick claims the window's first prompt, cleared when the batch's tallies count it
    # prompted: a tick that dies in between leaves it set, and a later tick recounts the window.
    tally_pending = models.BooleanField(default=False, editable=False)
    # Set in the transaction of a change to the window's evidence, cleared by the short transaction that
    # moves its tallies after that one commits: if the move fails (a tally row held elsewhere), the tick
    # moves them. A mark of its own, because the tick's count of a batch clears ``tally_pending``.
    tally_stale = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "user"], name="act_window_one_per_learner")]
        indexes = [
            models.Index(fields=["definition", "state"], name="act_window_def_state"),
            models.Index(fields=["user", "state"], name="act_window_user_state"),
            # The figures read the windows that close today, and the running ones opened in now's hour
            # of the day (covered: no row is read for those).
            models.Index(fields=["definition", "state", "closes_at", "opened_at"], name="act_window_def_closing"),
            models.Index(fields=["definition", "opened_at", "state", "closes_at"], name="act_window_def_opening"),
            models.Index(fields=["tally_pending"], name="act_window_tally_pending"),
            models.Index(fields=["tally_stale"], name="act_window_tally_stale"),
        ]

    def __str__(self):
        return f"window {self.pk} of user {self.user_id} for definition {self.definition_id}"


class CourseFollowUp(models.Model):
    """
    A learner's follow-up in one catalog course, across its definitions and versions (ADR 0012).

    Everything that opens a learner's window in the course, or withdraws them from it, writes this
    row first and holds it to its commit: the unique key makes the first writer create it and every
    other wait for it, so the learner's windows read next are the ones the database holds and at
    most one running window is ever opened, whatever two completions or a backfill race.

    .. pii: Which learner has a follow-up in which catalog course.
    .. pii_types: id
    .. pii_retirement: retained
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    catalog_course = models.CharField(max_length=255)
    checked_at = models.DateTimeField(help_text=_("When a completion, backfill or withdrawal last held this row."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "catalog_course"], name="act_follow_up_one_per_course")]

    def __str__(self):
        return f"follow-up of user {self.user_id} in {self.catalog_course}"


class PendingCompletion(models.Model):
    """
    A completion event not yet turned into windows. The receiver writes it before anything else
    and deletes it once the windows are open; a row that stays (a lock timeout, a crash, a platform
    lookup that failed) is retried by the tick until it succeeds, so no completion is lost.

    .. pii: Which learner completed which course run, and when.
    .. pii_types: id
    .. pii_retirement: local_api
    """

    user_id = models.PositiveBigIntegerField()
    course_run = CourseKeyField(max_length=255)
    trigger = models.CharField(max_length=16, choices=ActivationDefinition.Trigger.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_id", "course_run", "trigger"],
                                               name="act_pending_one_per_event")]

    def __str__(self):
        return f"pending {self.trigger} completion of user {self.user_id} in {self.course_run}"


class PromptDelivery(models.Model):
    """
    A prompt or reminder for one window, claimed before it is sent: the unique key makes it
    at-most-once. A batch is claimed ``queued``; each small group of its messages
    (``ACTIVATION_TICK_SEND_GROUP``) turns ``sending`` just before it goes out. A dead tick's
    ``queued`` claims are taken back after a lease; a claim left ``sending`` (the worker died between
    sending and recording) is never re-sent on a guess but reported for an operator to settle; a
    ``failed`` send is retried by a later tick.

    .. no_pii: References, status and the mail backend's error text.
    """

    class Kind(models.TextChoices):
        PROMPT = "prompt", _("Prompt")
        REMINDER = "reminder", _("Reminder")
        NUDGE = "nudge", _("Nudge")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Claimed, not yet sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        SKIPPED = "skipped", _("Skipped: a later reminder was due at the same time")

    window = models.ForeignKey(ActivationWindow, on_delete=models.CASCADE, related_name="deliveries")
    prompt = models.ForeignKey(FollowUpPrompt, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sequence = models.PositiveSmallIntegerField(default=0, help_text=_("Which reminder (0 for the prompt)."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=1)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = _("prompt deliveries")
        constraints = [
            models.UniqueConstraint(fields=["window", "prompt", "kind", "sequence"], name="act_delivery_once"),
        ]
        indexes = [models.Index(fields=["status", "claimed_at"], name="act_delivery_status")]

    # The tick's writes per group of messages (``ACTIVATION_TICK_SEND_GROUP``), as SQL with parameters rather than
    # ``filter(pk__in=…).update()``: the ORM spent more CPU building each statement than rendering half a mail
    # (issue 34). Each is one statement, so one commit in the tick's autocommit; like ``update()``, no signals.
    _START_SENDING = "UPDATE {table} SET status = %s WHERE status = %s AND claimed_at = %s AND id IN ({ids})"
    _STARTED = "SELECT id FROM {table} WHERE status = %s AND claimed_at = %s AND id IN ({ids})"
    _RECORD_SENT = "UPDATE {table} SET status = %s, sent_at = %s, last_error = '' WHERE id IN ({ids})"

    @classmethod
    def start_sending(cls, pks, claimed_at):
        """
        Turn the claims ``pks`` ``sending`` where they are still ``queued`` since ``claimed_at``, in one
        statement. Returns the ids turned: all of them unless another tick took some back, and only then
        are they read back (a claim ``sending`` since ``claimed_at`` can only be the caller's).
        """
        if not pks:
            return set()
        claimed_at = connection.ops.adapt_datetimefield_value(claimed_at)
        with connection.cursor() as cursor:
            cursor.execute(cls._sql(cls._START_SENDING, pks), [cls.Status.SENDING, cls.Status.QUEUED, claimed_at, *pks])
            if cursor.rowcount == len(pks):
                return set(pks)
            cursor.execute(cls._sql(cls._STARTED, pks), [cls.Status.SENDING, claimed_at, *pks])
            return {row[0] for row in cursor.fetchall()}

    @classmethod
    def record_sent(cls, pks, sent_at):
        """Record the messages ``pks`` ``sent`` at ``sent_at`` in one statement, clearing failed attempts' errors."""
        if pks:
            with connection.cursor() as cursor:
                cursor.execute(cls._sql(cls._RECORD_SENT, pks),
                               [cls.Status.SENT, connection.ops.adapt_datetimefield_value(sent_at), *pks])

    @classmethod
    def _sql(cls, sql, pks):
        return sql.format(table=connection.ops.quote_name(cls._meta.db_table), ids=", ".join(["%s"] * len(pks)))


class PromptOptOut(models.Model):
    """
    A learner asked for no more prompts: for one definition, or for all (``definition`` empty).
    Opted-out learners keep their windows and are still counted.

    .. pii: Records a learner's choice about being contacted.
    .. pii_types: id
    .. pii_retirement: retained
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    definition = models.ForeignKey(ActivationDefinition, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="opt_outs")
    scope = models.PositiveBigIntegerField(
        default=0, editable=False,
        help_text=_("The definition's id, or 0 for every course: the unique key, since an empty definition "
                    "is distinct from every other empty one in a unique index (and MariaDB has no partial index)."))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "definition"], name="act_opt_out_once"),
                       models.UniqueConstraint(fields=["user", "scope"], name="act_opt_out_once_per_scope")]


def evidence_upload_path(instance, filename):  # pylint: disable=unused-argument
    """Generated names only: the learner's file name never reaches the storage path."""
    return f"activation/evidence/{uuid.uuid4().hex}"  # api.files.EVIDENCE_DIR sweeps this folder


class Evidence(models.Model):
    """
    Something a learner, supervisor, KPI source or import submitted towards a requirement.

    .. pii: Learner-written project text, survey answers, links and files.
    .. pii_types: other
    .. pii_retirement: local_api
    """

    class Source(models.TextChoices):
        LEARNER = "learner", _("Learner")
        SUPERVISOR = "supervisor", _("Supervisor")
        METRIC = "metric", _("KPI metric")
        IMPORT = "import", _("Import")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")
        # A survey response kept as a response (funnel, non-response) but not evidence of activation.
        NOT_MET = "not_met", _("Does not meet the activation condition")

    window = models.ForeignKey(ActivationWindow, on_delete=models.CASCADE, related_name="evidence")
    requirement = models.ForeignKey(EvidenceRequirement, on_delete=models.CASCADE, related_name="evidence")
    submitted_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    payload = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to=evidence_upload_path, null=True, blank=True)

    class Strength(models.TextChoices):
        SELF_REPORT = "self_report", _("Self-report")
        PEER = "peer", _("Peer-verified")
        STAFF = "staff", _("Staff-verified")
        SUPERVISOR = "supervisor", _("Supervisor-observed")
        KPI = "kpi", _("KPI-derived")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    verified_at = models.DateTimeField(null=True, blank=True)
    strength = models.CharField(max_length=16, choices=Strength.choices, blank=True,
                                help_text=_("Who or what verified it; empty until verified."))
    idempotency_key = models.CharField(max_length=255, unique=True)

    class Meta:
        indexes = [
            # Covers lookups by (window, status) too; activations by evidence strength read it alone.
            models.Index(fields=["window", "status", "strength"], name="act_evidence_strength"),
        ]
        verbose_name_plural = "evidence"


class Review(models.Model):
    """
    A peer's, staff member's or supervisor's verdict on one piece of evidence.

    .. pii: Reviewer identity (user or supervisor email) and their free-text comment.
    .. pii_types: email_address, other
    .. pii_retirement: local_api
    """

    class Role(models.TextChoices):
        PEER = "peer", _("Peer")
        STAFF = "staff", _("Staff")
        SUPERVISOR = "supervisor", _("Supervisor")

    class Verdict(models.TextChoices):
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    evidence = models.ForeignKey(Evidence, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    reviewer_email = models.EmailField(null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    checklist = models.JSONField(default=dict, blank=True)
    score = models.FloatField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evidence", "reviewer"], name="act_review_once_per_user"),
            models.UniqueConstraint(fields=["evidence", "reviewer_email"], name="act_review_once_per_email"),
        ]


class PeerAssignment(models.Model):
    """
    A submission handed to a volunteer peer reviewer. Past ``due_at`` without a review it counts
    as returned to the pool (derived, never stored), so nothing has to sweep it.

    .. pii: Which learner reviews which other learner's work.
    .. pii_types: id
    .. pii_retirement: local_api
    """

    evidence = models.ForeignKey(Evidence, on_delete=models.CASCADE, related_name="peer_assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assigned_at = models.DateTimeField()
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["evidence", "reviewer"], name="act_peer_once")]
        indexes = [models.Index(fields=["reviewer", "completed_at"], name="act_peer_reviewer")]


class SupervisorInvite(models.Model):
    """
    A signed, expiring, single-use link that lets a supervisor without an account observe a learner.

    Its mail is sent after the row commits, like prompts (docs/decisions/0006-at-most-once-follow-up.rst):
    ``sending`` until the backend answered, then ``sent`` or ``failed`` (retried by the tick).

    .. pii: The supervisor's email address.
    .. pii_types: email_address
    .. pii_retirement: local_api
    """

    class MailStatus(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, to be retried")

    window = models.ForeignKey(ActivationWindow, on_delete=models.CASCADE, related_name="supervisor_invites")
    requirement = models.ForeignKey(EvidenceRequirement, on_delete=models.CASCADE, related_name="supervisor_invites")
    email = models.EmailField()
    nonce = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    mail_status = models.CharField(max_length=16, choices=MailStatus.choices, default=MailStatus.SENDING)
    mail_attempts = models.PositiveSmallIntegerField(default=0)
    mail_attempted_at = models.DateTimeField(null=True, blank=True)
    mail_error = models.TextField(blank=True, help_text=_("The mail backend's error of the last failed attempt."))
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["mail_status", "mail_attempted_at"], name="act_invite_mail")]


class MetricSource(models.Model):
    """
    Non-secret state of a KPI connector; credentials and allowed hosts stay in Django settings.

    .. no_pii: Connector configuration and run status.
    """

    class Kind(models.TextChoices):
        REST = "rest", _("REST API")
        CSV = "csv", _("CSV upload")
        WEBHOOK = "webhook", _("Webhook push")
        PYTHON = "python", _("Python class")

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    mapping = models.JSONField(default=dict, blank=True)
    schedule_minutes = models.PositiveIntegerField(default=60)
    cursor = models.CharField(max_length=255, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)
    records_pulled = models.PositiveBigIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing = models.BooleanField(
        default=False, help_text=_("Set after too many failed runs in a row; cleared by the next successful run."),
    )
    records_rejected = models.PositiveBigIntegerField(
        default=0, help_text=_("Records that could not be read as an observation (missing or malformed fields)."),
    )
    duplicates_dropped = models.PositiveBigIntegerField(
        default=0, help_text=_("Records whose observation was already stored, or repeated within one delivery."),
    )
    future_dropped = models.PositiveBigIntegerField(
        default=0, help_text=_("Records dated in the future, refused so they cannot poison the high-water mark."),
    )

    def __str__(self):
        return self.name


class MetricObservation(models.Model):
    """
    One KPI value for one external identity at one time, upserted idempotently.

    .. pii: An employer's performance figure about a person, linked to the learner once resolved.
    .. pii_types: id, other
    .. pii_retirement: local_api
    """

    source = models.ForeignKey(MetricSource, on_delete=models.CASCADE, related_name="observations")
    metric = models.CharField(max_length=100)
    external_id = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    observed_at = models.DateTimeField()
    value = models.FloatField()
    received_at = models.DateTimeField(auto_now_add=True)
    record_id = models.CharField(
        max_length=255, blank=True, default="",
        help_text=_("The source's own id of the record (a ticket, a deal), where it has one: two records of "
                    "one person in the same second stay two observations."),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "metric", "external_id", "observed_at", "record_id"], name="act_observation_once",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "metric", "observed_at"], name="act_obs_user_metric"),
            # Re-resolution and the match report look observations up by identity within a source.
            models.Index(fields=["source", "external_id"], name="act_obs_source_external"),
            # The data-quality panel counts a metric's observations by time (future, outside windows).
            models.Index(fields=["metric", "observed_at"], name="act_obs_metric_time"),
            # A re-delivered record (a ticket updated after it was solved) is found by its own id.
            models.Index(fields=["source", "metric", "record_id"], name="act_obs_record"),
        ]


class IdentityLink(models.Model):
    """
    Which learner an identifier in an external system belongs to.

    .. pii: Maps an external (employer/CRM) identifier to a learner account.
    .. pii_types: id
    .. pii_retirement: local_api
    """

    class Method(models.TextChoices):
        EMAIL = "email", _("Email")
        USERNAME = "username", _("Username")
        EXPLICIT = "explicit", _("Explicit link")

    source = models.ForeignKey(MetricSource, on_delete=models.CASCADE, related_name="identity_links")
    external_id = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=16, choices=Method.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="act_identity_once"),
        ]


class IdempotentRequest(models.Model):
    """
    A REST write sent with an ``Idempotency-Key``, stored in the write's own transaction with the
    response it got: a client's retry gets that response back instead of writing twice. Kept a
    day (``api.idempotency.KEPT_FOR``).

    .. pii: The response replayed to the client, which can hold a reviewer's comment; the client's account.
    .. pii_types: id, other
    .. pii_retirement: local_api
    """

    key = models.CharField(max_length=64, unique=True, help_text=_("SHA-256 of the account, endpoint and key."))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64, help_text=_("SHA-256 of the request body."))
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotent request")

    def __str__(self):
        return f"idempotent request {self.key[:12]}… of user {self.user_id}"


class CellCounts(models.Model):
    """
    One cell's columns (its run, arm and segment) and counters, shared by ``WindowTally``,
    ``CellTotal`` and ``LateTally``: the three move by the same upserts (``api.tallies``) and the
    figures add them up alike, so a counter added to one is added to all.

    .. no_pii: Counts per group of learners; no identifier.
    """

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="+")
    cell = models.CharField(max_length=40, help_text=_("A digest of the run, arm and segment below."))
    course_run = CourseKeyField(max_length=255)
    arm = models.CharField(max_length=16)
    enrollment_mode = models.CharField(max_length=100, blank=True)
    org = models.CharField(max_length=255, blank=True)
    cohort = models.CharField(max_length=255, blank=True)
    first_opened = models.DateTimeField()
    completers = models.IntegerField(default=0)
    activated = models.IntegerField(default=0)
    prompted = models.IntegerField(default=0)
    responded = models.IntegerField(default=0)
    verified = models.IntegerField(default=0, help_text=_("Windows with verified evidence."))
    repeat = models.IntegerField(default=0, help_text=_("Activated windows with two or more verified evidence."))
    verified_evidence = models.IntegerField(default=0, help_text=_("Verified evidence of the activated windows."))
    awaiting_review = models.IntegerField(default=0, help_text=_("Evidence submitted and not yet decided."))
    strength_self_report = models.IntegerField(default=0)
    strength_peer = models.IntegerField(default=0)
    strength_staff = models.IntegerField(default=0)
    strength_supervisor = models.IntegerField(default=0)
    strength_kpi = models.IntegerField(default=0)

    class Meta:
        abstract = True


class WindowTally(CellCounts):
    """
    Running totals of a definition's windows, per cell (run, arm and segment) and day they close:
    what every rate, funnel and persistence figure is added up from, so a first visit reads these
    rows instead of the windows. Kept in the same transaction as each change to a window
    (``api.tallies``), rebuilt by ``activation_rebuild_tallies``. Withdrawn windows add only their
    opening time (``first_opened``, which orders the runs). See docs/decisions/0009-tallies.rst.

    .. no_pii: Counts per group of learners; no identifier.
    """

    closes_on = models.DateField(help_text=_("The UTC day the windows close."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "cell", "closes_on"], name="act_tally_cell_day")]
        # The rows closing from today on, which the figures subtract from the cells' totals.
        indexes = [models.Index(fields=["definition", "closes_on"], name="act_tally_cell_closing")]

    def __str__(self):
        return f"tally of definition {self.definition_id}, {self.course_run} {self.arm}, closing {self.closes_on}"


class CellTotal(CellCounts):
    """
    A definition's ``WindowTally`` rows summed over their closing days, one row per cell: moved by
    the same upserts, in the same transaction. The figures take a cell's ended windows as its total
    minus its rows closing today or later (a window's length of days), so a first visit to many
    courses (the portfolio) reads one row per cell instead of grouping every closing day's rows.
    See docs/decisions/0009-tallies.rst.

    .. no_pii: Counts per group of learners; no identifier.
    """

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "cell"], name="act_tally_cell_total")]

    def __str__(self):
        return f"total of definition {self.definition_id}, {self.course_run} {self.arm}"


class ActivationDayTally(models.Model):
    """
    Activated windows per whole day from opening to activation: the events of the Kaplan-Meier curve.

    .. no_pii: Counts per day; no identifier.
    """

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="+")
    day = models.IntegerField()
    activated = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "day"], name="act_tally_day")]

    def __str__(self):
        return f"activations of definition {self.definition_id} on day {self.day}"


class CensorTally(models.Model):
    """
    Windows not activated per UTC hour they opened and day they close: while they run, the
    Kaplan-Meier curve censors each after the whole days it has been observed, the same for every
    window of an hour except in the hour whose time of day is now's.

    .. no_pii: Counts per hour; no identifier.
    """

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="+")
    opened_hour = models.DateTimeField()
    closes_on = models.DateField()
    waiting = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "opened_hour", "closes_on"],
                                               name="act_tally_censor")]

    def __str__(self):
        return f"windows of definition {self.definition_id} opened at {self.opened_hour} not activated"


class KpiTally(models.Model):
    """
    Sums of learners' KPI changes (mean inside the window minus mean over the baseline before it)
    per metric, arm, outcome, closing day and opening period (the UTC day the windows opened and
    their length in whole days), from which the KPI deltas, the difference-in-differences and the
    course effect take their means and variances, and the course effect weighs its untrained
    colleagues' periods; and the counts of each learner's observations that fall in neither period,
    for the data-quality panel.

    .. no_pii: Sums over groups of learners; no identifier.
    """

    definition = models.ForeignKey(ActivationDefinition, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=100)
    arm = models.CharField(max_length=16)
    activated = models.BooleanField()
    closes_on = models.DateField()
    opened_on = models.DateField(help_text=_("The UTC day the windows opened."))
    window_days = models.IntegerField(help_text=_("The windows' length in whole days."))
    measured = models.IntegerField(default=0, help_text=_("Learners with observations in both periods."))
    sum_delta = models.FloatField(default=0.0)
    sum_delta_squares = models.FloatField(default=0.0)
    sum_pre = models.FloatField(default=0.0)
    sum_pre_squares = models.FloatField(default=0.0, help_text=_("For the spread of the baselines."))
    sum_post = models.FloatField(default=0.0)
    observations = models.IntegerField(default=0)
    observations_used = models.IntegerField(default=0, help_text=_("Observations in the baseline or the window."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["definition", "metric", "arm", "activated", "closes_on",
                                                       "opened_on", "window_days"], name="act_tally_kpi_period")]

    def __str__(self):
        return f"{self.metric} tally of definition {self.definition_id}, {self.arm}, closing {self.closes_on}"


class LateTally(CellCounts):
    """
    What changed in a cell's ``WindowTally`` row of a closing day after that day was over, by the UTC
    day of the change: a review's verdict, a withdrawal, evidence re-judged or a KPI observation that
    activates a window long ended. Moved by the same upserts as the tallies. A viewer who cannot see
    the window's run row by row has had that day released already; ``figures.release`` counts the
    change for them on the day it happened, released only with what ended then in a group that
    passes the cell test. See docs/decisions/0016-suppression-and-differencing.rst, "Late changes".

    .. no_pii: Counts per group of learners; no identifier.
    """

    closes_on = models.DateField(help_text=_("The UTC day the windows closed."))
    changed_on = models.DateField(help_text=_("The UTC day of the change, after closes_on."))
    activation_day = models.IntegerField(help_text=_(
        "Days from opening to activation of the windows whose counts these are (-1: not activated): the curve's."))
    changed = models.IntegerField(default=0, help_text=_("Changes to a window's counts."))

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["definition", "cell", "closes_on", "changed_on", "activation_day"], name="act_tally_late_change")]

    def __str__(self):
        return f"late change of definition {self.definition_id}, {self.course_run} {self.arm}, closed {self.closes_on}"
