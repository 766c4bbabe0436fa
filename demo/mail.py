"""An email backend for the demo: messages are stored and shown at /outbox/ instead of sent."""
import time

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

from demo.models import DemoSentMail


def _html_part(message):
    return next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")


class DatabaseEmailBackend(BaseEmailBackend):
    """Stores each message, its text and its HTML part, for the outbox page."""

    def send_messages(self, email_messages):
        # A slow mail server, so a test can kill a worker in the middle of a batch.
        time.sleep(settings.DEMO_MAIL_DELAY_SECONDS * len(email_messages))
        DemoSentMail.objects.bulk_create([
            DemoSentMail(to=", ".join(message.to), subject=message.subject, body=message.body,
                         html=_html_part(message))
            for message in email_messages
        ])
        return len(email_messages)
