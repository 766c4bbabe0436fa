"""Files nobody points to: rolled-back evidence uploads and KPI previews never committed are swept."""
import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from activation_plugin import api
from activation_plugin.api.files import EVIDENCE_DIR, KPI_UPLOAD_DIR
from activation_plugin.models import Evidence
from tests.conftest import PROJECT


class RolledBack(Exception):
    pass


def age(path, hours):
    moment = time.time() - hours * 3600
    os.utime(default_storage.path(path), (moment, moment))


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def test_a_rolled_back_upload_leaves_a_file_that_the_sweep_deletes(media, make_definition, learner, course_key,
                                                                   capsys):
    definition = make_definition(requirements=[PROJECT])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    requirement = definition.requirements.get()
    kept = api.save_learner_response(window=window, requirement=requirement, payload={"text": "mine"},
                                     idempotency_key="kept", file=ContentFile(b"kept", name="kept.txt"))
    with pytest.raises(RolledBack), transaction.atomic():
        other = Evidence.objects.create(window=window, requirement=requirement, source="learner",
                                        submitted_at=timezone.now(), idempotency_key="lost")
        other.file.save("lost.txt", ContentFile(b"private"), save=True)
        raise RolledBack
    _folders, names = default_storage.listdir(EVIDENCE_DIR)
    assert len(names) == 2 and not Evidence.objects.filter(idempotency_key="lost").exists()  # the orphan
    fresh = default_storage.save(f"{EVIDENCE_DIR}/just-uploaded", ContentFile(b"in flight"))
    preview = default_storage.save(f"{KPI_UPLOAD_DIR}/never-committed.csv", ContentFile(b"a,b\n"))
    for path in [f"{EVIDENCE_DIR}/{name}" for name in names] + [preview]:
        age(path, hours=2)
    call_command("activation_sweep_files")
    assert "deleted: 2" in capsys.readouterr().out
    assert sorted(default_storage.listdir(EVIDENCE_DIR)[1]) == sorted([kept.file.name.rsplit("/", 1)[1],
                                                                       fresh.rsplit("/", 1)[1]])
    assert default_storage.listdir(KPI_UPLOAD_DIR)[1] == []
    assert api.sweep_orphan_files() == 0  # nothing left to sweep; a referenced file is never touched
    assert default_storage.open(kept.file.name).read() == b"kept"
