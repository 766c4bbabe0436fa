"""``DEMO_PORT=8101 make demo``: every link the demo gives out points at the port it serves on."""
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"https?://[^\s\"'<>)]+")

# Run by the seeded demo itself: the pages' header links and the settings the plugin reads.
PAGES = """
import re
from django.conf import settings
from django.test import Client
from demo.management.commands.seed_demo import DEMO_LEARNER, LEARNER_PASSWORD, PASSWORDS, RUNS
run = RUNS[1][0]
links = [settings.ACTIVATION_METRIC_SOURCES["demo-helpdesk"]["url"]]
for username, password, path in (("instructor", PASSWORDS["instructor"], f"/activation/courses/{run}/"),
                                 (DEMO_LEARNER, LEARNER_PASSWORD, f"/activation/learner/{run}/")):
    client = Client()
    assert client.login(username=username, password=password)
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    links += re.findall(r'href="(https?://[^"]+)"', page.content.decode())
print("\\n".join(links))
"""


def demo(*args, env):
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_every_mailed_printed_and_header_link_follows_demo_port(tmp_path):
    env = {**os.environ, "DEMO_PORT": "8101", "DEMO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
           "DEMO_MEDIA_ROOT": str(tmp_path / "media"), "DEMO_TRACKING_LOG": str(tmp_path / "tracking.log")}
    for inherited in ("DEMO_LMS_ROOT_URL", "DJANGO_SETTINGS_MODULE", "DEMO_DB"):  # the demo as make demo runs it
        env.pop(inherited, None)
    demo("migrate", "--no-input", "-v", "0", env=env)
    printed = demo("seed_demo", env=env)
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        mail = [body + html for body, html in db.execute("SELECT body, html FROM demo_demosentmail")]
    pages = demo("shell", "-v", "0", "-c", PAGES, env=env)
    mailed = {link for text in mail for link in LINK.findall(text)}
    assert any("/observe/" in link for link in mailed)  # the supervisor's confirmation link
    assert any("opt-out" in link or "opt_out" in link for link in mailed)
    assert any("/activation/learner/" in link for link in mailed)  # the prompt's link
    shown = set(LINK.findall(printed)) | set(pages.split())
    assert any(link.endswith("/logout") for link in shown)
    assert any("/fake-helpdesk/" in link for link in shown)
    assert [link for link in mailed | shown if not link.startswith("http://127.0.0.1:8101/")] == []
    assert "DEMO_PORT=8101 ./manage.py activation_pull_metrics --all" in printed


@pytest.mark.slow
def test_make_hands_its_demo_port_to_every_command_it_runs():
    """The seed and the server run by ``make demo`` read the port ``make`` was given."""
    env = {key: value for key, value in os.environ.items() if key not in ("DEMO_PORT", "MAKEFLAGS")}
    port = ["make", "--no-print-directory", "--eval", "_port: ; @printenv DEMO_PORT", "_port"]
    checkout = os.environ.get("ACTIVATION_SOURCE_ROOT", ROOT)  # the installed-wheel runs copy no Makefile
    assert subprocess.run([*port, "DEMO_PORT=8101"], cwd=checkout, env=env, capture_output=True, text=True,
                          check=True).stdout == "8101\n"
    assert subprocess.run(port, cwd=checkout, env=env, capture_output=True, text=True,
                          check=True).stdout == "8000\n"
