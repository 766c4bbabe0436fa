"""Logging of the demo host, shaped like the LMS's: what an operator reads on the console is the server's."""
import logging

PLATFORM_PACKAGES = {"common", "openedx", "lms", "cms", "xmodule"}


class OutsideThePlatform(logging.Filter):
    """
    Drop the import error event-routing-backends logs, traceback and all, when its helpers load
    outside edx-platform: it expects that failure (its platform helpers fall back to None) and the
    demo routes no event through them, so the traceback on every ``manage.py`` run said nothing.
    Any other error of that logger still shows.
    """

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, ModuleNotFoundError)
                    and (error.name or "").split(".")[0] in PLATFORM_PACKAGES)
