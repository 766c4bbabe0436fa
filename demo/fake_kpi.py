"""
The demo's stand-in helpdesk API, for the plugin's REST connector (``demo-helpdesk`` source).

Bearer-token protected, paginated by next links, JSON. Its tickets are closed by the demo's
learners over the last days, anchored on whole days, so pulling twice in a day changes nothing.
Each learner's times stay within 5 % of their usual level, the one the seed's CRM pushes as their
baseline: pulling the helpdesk adds data to the KPI figures, but takes nobody to the 15 % drop the
demo's KPI requirement asks for, so it never changes who activated.
"""
import hmac
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import JsonResponse

LEARNERS = 240
PAGE = 50
DAYS = 30


def usual_handle_seconds(number):
    """Learner ``number``'s usual handle time, in seconds (360 to 479): the helpdesk and the seed's CRM agree on it."""
    return 360 + number * 37 % 120


def _tickets():
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for number in range(1, LEARNERS + 1, 3):
        for day in range(1, DAYS, 7):
            yield {"id": f"T-{number}-{day}", "assignee": {"email": f"learner{number:03d}@demo.localhost"},
                   "handle_seconds": usual_handle_seconds(number) + (number + day * 11) % 37 - 18,
                   "closed_at": (today - timedelta(days=day, hours=number % 9)).isoformat()}


def tickets(request):
    expected = f"Bearer {settings.DEMO_KPI_TOKEN}"
    if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
        return JsonResponse({"error": "unauthorized"}, status=401)
    offset = int(request.GET.get("offset", "0")) if request.GET.get("offset", "0").isdigit() else 0
    everything = list(_tickets())
    page = everything[offset:offset + PAGE]
    following = f"{request.path}?offset={offset + PAGE}" if offset + PAGE < len(everything) else None
    return JsonResponse({"tickets": page, "links": {"next": following}})
