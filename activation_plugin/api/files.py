"""
Files nobody points to: an evidence upload whose transaction rolled back keeps its file in storage
(storage is not transactional), and a KPI CSV previewed but never committed stays too. The sweep
deletes them once they are old enough that no request still in flight can be about to use them;
as evidence file names are random, this is also what erases a retired learner's orphaned upload.
"""
from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from activation_plugin.models import Evidence

EVIDENCE_DIR = "activation/evidence"
KPI_UPLOAD_DIR = "activation/kpi-uploads"
KPI_UPLOAD_MAX_AGE = timedelta(hours=1)  # a preview's signed token is valid that long
ORPHAN_GRACE = timedelta(hours=1)
CHUNK = 500


def sweep_orphan_files(now=None):
    """
    Delete evidence files no ``Evidence`` row names and KPI uploads past their preview's life,
    older than their grace period. A few queries per 500 files listed.

    Returns:
        int: how many files were deleted.
    """
    now = now or timezone.now()
    deleted = 0
    for directory, grace, referenced in ((EVIDENCE_DIR, ORPHAN_GRACE, _evidence_files),
                                         (KPI_UPLOAD_DIR, KPI_UPLOAD_MAX_AGE, lambda paths: set())):
        try:
            _folders, names = default_storage.listdir(directory)
        except FileNotFoundError:
            continue
        paths = [f"{directory}/{name}" for name in names]
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start:start + CHUNK]
            kept = referenced(chunk)
            for path in chunk:
                if path not in kept and default_storage.get_modified_time(path) <= now - grace:
                    default_storage.delete(path)
                    deleted += 1
    return deleted


def _evidence_files(paths):
    return set(Evidence.objects.filter(file__in=paths).values_list("file", flat=True))
