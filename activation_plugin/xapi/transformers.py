"""
ERB transformers of the ``edx.activation.*`` events, registered by importing this module
(``activation_plugin.xapi.register`` does, only where ERB is an installed app).

Conventions of ERB's own transformers: the actor is the learner's anonymous xAPI external id
(ERB's ``get_actor`` reads ``data.user_id``, the learner, before ``context.user_id``, who may be
the reviewer); the course run is the parent context activity, read from the event's data since a
tick or a celery task has no request context; objects live under the LMS root URL. The raw user id
is *not* copied into any extension: once retirement deletes the external id mapping, nothing in a
statement leads back to the learner. Verbs and extensions: docs/how-tos/aspects.rst.

Only events about a window, in a course run, become statements: Aspects takes a statement
without a course parent for a course of its own (its object id), so ``observations.matched``,
about a learner in no course, stays in the tracking log.
"""
from event_routing_backends.helpers import get_course_from_id, get_uuid5
from event_routing_backends.processors.xapi import constants
from event_routing_backends.processors.xapi.registry import XApiTransformersRegistry
from event_routing_backends.processors.xapi.transformer import XApiTransformer
from tincan import (
    Activity,
    ActivityDefinition,
    ActivityList,
    ContextActivities,
    Extensions,
    LanguageMap,
    Result,
    Verb,
)

from activation_plugin import tracking

# ERB's namespace for Open edX extensions and activity types, with an ``activation`` segment.
EXTENSION = "https://w3id.org/xapi/openedx/extension/activation/"
ACTIVITY = "https://w3id.org/xapi/openedx/activity/activation-"
# The fields of a window every window statement carries (tracking._window_data without the user).
WINDOW_EXTENSIONS = ("definition_id", "window_id", "catalog_course", "arm", "opened_at", "closes_at")
# Fields of particular events, as context extensions when they describe the situation.
CONTEXT_EXTENSIONS = ("window_days", "trigger", "enrollment_mode", "org", "cohort", "requirement_id",
                      "evidence_kind", "source", "prompt_id", "prompt_kind", "sequence", "reason")
# Fields that are the outcome of the event, as result extensions.
RESULT_EXTENSIONS = ("days_to_activation", "activated_at", "strength", "status")


def extension(field):
    return EXTENSION + field.replace("_", "-")


def verb(iri, display):
    return Verb(id=iri, display=LanguageMap({constants.EN: display}))


class ActivationTransformer(XApiTransformer):
    """What every activation statement shares: window context, course parent, extensions."""

    additional_fields = ("result",)
    object_type = "window"
    object_key = "window_id"
    # The window's outcome, for the two events that settle it (activated, expired); None otherwise.
    success = None
    # The verb the event's statements had first, where it changed since: their ids stay the same.
    first_verb = None

    def get_event_id(self):
        """
        ERB's id (a UUID5 of the actor and time, in a namespace of the verb), under the event's
        first verb: an event routed before its verb changed and replayed since (ERB's
        ``transform_tracking_logs``) keeps the id of the statement Aspects has, not a second one.
        """
        if self.first_verb is None:
            return super().get_event_id()
        return get_uuid5(self.first_verb.to_json(), f"{self.get_actor().to_json()}-{self.get_timestamp()}")

    def get_object(self):
        return Activity(
            id=self.get_object_iri(f"activation/{self.object_type}", self.get_data(f"data.{self.object_key}", True)),
            definition=ActivityDefinition(type=ACTIVITY + self.object_type),
        )

    def get_context_activities(self):
        """The learner's course run from the event's data: the request context may have none, or another."""
        course_id = self.get_data("data.course_id")
        if course_id is None:
            return None
        course = get_course_from_id(course_id)
        return ContextActivities(parent=ActivityList([Activity(
            id=self.get_object_iri("course", course_id),
            object_type=constants.XAPI_ACTIVITY_COURSE,
            definition=ActivityDefinition(type=constants.XAPI_ACTIVITY_COURSE,
                                          name=LanguageMap({constants.EN_US: course["display_name"]})),
        )]))

    def get_context_extensions(self):
        extensions = super().get_context_extensions()
        extensions.update(self._extensions((*WINDOW_EXTENSIONS, *CONTEXT_EXTENSIONS)))
        return extensions

    def get_result(self):
        extensions = self._extensions(RESULT_EXTENSIONS)
        if not extensions and self.success is None:
            return None
        return Result(success=self.success, extensions=Extensions(extensions) if extensions else None)

    def _extensions(self, fields):
        data = self.get_data("data") or {}
        return {extension(field): data[field] for field in fields if data.get(field) not in (None, "")}


def transformer(event_name, verb_iri, display, **attributes):
    """A registered subclass of ``ActivationTransformer`` for one event: its verb and object."""
    name = "".join(part.title() for part in event_name.split(".")[2:]) + "Transformer"
    cls = type(name, (ActivationTransformer,), {"_verb": verb(verb_iri, display), "__module__": __name__,
                                                "__doc__": f"xAPI statement of ``{event_name}``.", **attributes})
    return XApiTransformersRegistry.register(event_name)(cls)


# Verbs of the ADL vocabulary and of the xAPI registry (Activity Streams), one per event, so
# that a statement's verb alone says which event it was, and none that ERB gives the platform's
# own events (Aspects' models select those by verb: opened and expired had ERB's video verbs).
transformer(tracking.WINDOW_OPENED, "http://activitystrea.ms/schema/1.0/start", "started",
            first_verb=verb(constants.XAPI_VERB_INITIALIZED, constants.INITIALIZED))
transformer(tracking.WINDOW_ACTIVATED, "https://w3id.org/xapi/adl/verbs/satisfied", "satisfied",
            success=True)
transformer(tracking.WINDOW_REOPENED, "http://activitystrea.ms/schema/1.0/unsatisfy", "unsatisfied")
transformer(tracking.WINDOW_EXPIRED, "http://activitystrea.ms/schema/1.0/close", "closed",
            success=False, first_verb=verb(constants.XAPI_VERB_TERMINATED, constants.TERMINATED))
transformer(tracking.WINDOW_WITHDRAWN, "http://adlnet.gov/expapi/verbs/exited", "exited")
transformer(tracking.EVIDENCE_SUBMITTED, "http://activitystrea.ms/schema/1.0/submit", "submitted",
            object_type="evidence", object_key="evidence_id")
transformer(tracking.EVIDENCE_VERIFIED, "http://activitystrea.ms/schema/1.0/approve", "approved",
            object_type="evidence", object_key="evidence_id")
transformer(tracking.PROMPT_SENT, "http://activitystrea.ms/schema/1.0/receive", "received",
            object_type="prompt", object_key="delivery_id")
