"""The demo host's own pages on a phone (issue 32): its header and outbox are what operators open first."""
import pytest

from demo.models import DemoSentMail
from tests.conftest import log_in, screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


def overlapping(page, selector):
    """Pairs of the selector's elements whose boxes overlap on screen."""
    boxes = [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


def test_the_outbox_header_and_search_fit_a_phone(browser, live_server):
    UserFactory(username="operator-with-a-long-name", is_staff=True)
    for number in range(25):
        DemoSentMail.objects.create(to=f"learner{number}@demo.localhost", subject=f"Prompt {number}", body="Hello")
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone = context.new_page()
    log_in(phone, live_server, "operator-with-a-long-name")
    phone.goto(f"{live_server.url}/outbox/")
    screenshot(phone, "demo-outbox-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overlapping(phone, ".demo-bar a, .demo-bar button, .demo-bar .demo-user") == []
    phone.fill("input[name=q]", "learner7")
    phone.click(".demo-search button")
    assert phone.locator("[data-mail]").count() == 1
    context.close()
