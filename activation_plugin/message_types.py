"""edx-ace message types; imported only inside the LMS, where edx-ace is installed."""
from edx_ace.message import MessageType


class FollowUp(MessageType):
    """A follow-up prompt, reminder or nudge; templates in templates/activation_plugin/edx_ace/followup/."""

    APP_LABEL = "activation_plugin"
    NAME = "followup"
