"""
The demo host as ``make load`` serves it (benchmarks/load.py): DEBUG off, a signed webhook source to
push KPI batches into, and mail stored in the demo's outbox table so the run can count who was
mailed twice. Everything else is the demo's own settings, on the database the environment names.
"""
# pylint: disable=wildcard-import,unused-wildcard-import
import os

from demo.settings import *  # noqa: F401,F403

DEBUG = False
ACTIVATION_METRIC_SOURCES = {
    **ACTIVATION_METRIC_SOURCES,  # noqa: F405
    "load-webhook": {"kind": "webhook", "secret": os.environ["ACTIVATION_LOAD_SECRET"]},
}
EMAIL_BACKEND = "demo.mail.DatabaseEmailBackend"
