"""
``python -m benchmarks.export_probe DEFINITION_ID``: download one definition's windows CSV through
the real view, in this process alone, and print rows, seconds and memory as JSON. Run by
``benchmarks.tab.export`` against the benchmark database that is already seeded (never created here).
"""
import json
import os
import resource
import sys
import time


def _rss_mb():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(definition_id):
    """
    Run in a process of its own (``benchmarks.tab.export`` starts it), so the peak RSS is the
    download's, not the seeding's.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    os.environ["DEMO_DEBUG"] = "0"
    import django  # pylint: disable=import-outside-toplevel
    django.setup()
    from django.contrib.auth import get_user_model  # pylint: disable=import-outside-toplevel
    from django.test import Client  # pylint: disable=import-outside-toplevel
    from django.urls import reverse  # pylint: disable=import-outside-toplevel

    from activation_plugin.models import ActivationDefinition  # pylint: disable=import-outside-toplevel

    definition = ActivationDefinition.objects.get(pk=definition_id)
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-staff"))
    address = reverse("activation_plugin:export_windows",
                      kwargs={"course_id": str(definition.course_key), "definition_id": definition.pk})
    start_mb = _rss_mb()
    started = time.perf_counter()
    response = client.get(address)
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1  # the header
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_start_mb": start_mb, "rss_peak_mb": peak_mb}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
