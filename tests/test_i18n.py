"""
Pages, api errors and emails follow the reader's language (French here), and the catalogue stays
complete: every marked string has a French translation, compiled, and nothing in the code or the
templates is left out of it.
"""
import ast
import gettext
import html
import io
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

import activation_plugin
from activation_plugin import api, links
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import csv_import
from tests.conftest import OBSERVATION, PROJECT, committed, definition_post
from tests.factories import UserFactory
from tests.figures_data import make_windows

# The package under test (the installed wheel in CI's wheel jobs): its catalogues are what ships.
PACKAGE = Path(activation_plugin.__file__).resolve().parent
MANAGE = Path(__file__).resolve().parent.parent / "manage.py"
LOCALE = PACKAGE / "locale"
FRENCH_PO = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
NBSP = "\u00a0"

pytestmark = pytest.mark.django_db


def french_get(client, url, how):
    """A GET whose language comes from the browser's header or from Django's language cookie."""
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
        return client.get(url)
    return client.get(url, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")


def assert_french(response, present, absent):
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    for text in present:
        assert text in page, text
    for text in absent:
        assert text not in page, text


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


@pytest.fixture
def open_window(make_definition, learner, course_key):
    make_definition(requirements=[PROJECT, OBSERVATION])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    return window


@pytest.mark.parametrize("how", ["header", "cookie"])
def test_learner_page_is_in_french(client, learner, course_key, open_window, how):
    client.force_login(learner)
    response = french_get(client, reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)}), how)
    assert_french(response, present=[
        "Appliquez ce que vous avez appris", "Ouverte jusqu'au", "Projet appliqué", "Lien vers votre projet",
        "Demander à mon responsable", "Quitter ce suivi et effacer mes réponses",
    ], absent=["Apply what you learned", "Open until", "Link to your project", "Ask my supervisor", "Withdraw"])


@pytest.mark.parametrize("how", ["header", "cookie"])
def test_instructor_course_page_is_in_french(staff_client, course_key, make_definition, how):
    make_definition(name="Uses the script")
    response = french_get(staff_client, reverse("activation_plugin:instructor",
                                                kwargs={"course_id": str(course_key)}), how)
    assert_french(response, present=[
        "Nouvelle définition", "File d'évaluation", "Taux d'activation", "Ont terminé",
        "Désinscrits des messages (toujours comptés)", f"Aucune fenêtre n'est encore terminée{NBSP}:",
    ], absent=["New definition", "Review queue", "Activation rate", "No window has ended yet"])


def test_activation_page_of_a_definition_is_in_french(staff_client, course_key, make_definition):
    definition = make_definition()
    make_windows(definition, 6)  # completers: the figures' panels show
    response = french_get(staff_client, reverse("activation_plugin:definition", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk}), "header")
    assert_french(response, present=[
        "De la fin du cours à l'activation", "Délai avant la première activation", "Comparaisons",
        f"Peut-on se fier à ces chiffres{NBSP}?", "Retour sur investissement", "Ce qui est demandé aux apprenants",
        "L'apprenant réussit le cours · fenêtre de 30 jours · Une seule preuve, au choix",
    ], absent=["From completion to activation", "Time to first activation", "Can these figures be trusted?",
               "Return on investment", "What learners are asked to do"])
    charts = re.search(r'<script id="chart-km-\d+" type="application/json">(.*?)</script>', response.content.decode(),
                       re.S).group(1)
    assert "Jours depuis la fin du cours" in charts and "Days since completion" not in charts


def test_configuration_form_and_its_api_errors_are_in_french(staff_client, course_key):
    new = reverse("activation_plugin:definition_new", kwargs={"course_id": str(course_key)})
    assert_french(french_get(staff_client, new, "header"), present=[
        "Nouvelle définition d'activation", "Ce qui compte comme une activation",
        "Comportement que les apprenants doivent mettre en pratique au travail", "L'apprenant obtient un certificat",
        "Preuves demandées",
    ], absent=["New activation definition", "What counts as activation", "Learner earns a certificate"])
    # The rule's refusal comes from the api (rules.py), in the instructor's language.
    response = staff_client.post(new, definition_post({}, rule="at_least", rule_count="3"),
                                 HTTP_ACCEPT_LANGUAGE="fr")
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert "La règle demande au moins 3 preuves, mais la définition n'en a que 1." in page
    assert "The rule asks for" not in page


def test_review_queue_is_in_french(staff_client, course_key, open_window):
    response = french_get(staff_client, reverse("activation_plugin:review_queue",
                                                kwargs={"course_id": str(course_key)}), "cookie")
    assert_french(response, present=[
        "File d'évaluation", "Retour à la page Activation", "Aucun résultat ne correspond à ces filtres.",
        "Invitations de responsables en attente de réponse", ">Envoyée<", ">Refusée<",
    ], absent=["Review queue", "Nothing matches these filters.", "Supervisor invitations", ">Submitted<"])


def test_opt_out_page_and_its_link_errors_are_in_french(client, learner, make_definition):
    definition = make_definition()
    url = reverse("activation_plugin:opt_out", kwargs={"token": links.opt_out_token(learner.pk, definition.pk)})
    assert_french(french_get(client, url, "header"), present=[
        "Ne plus recevoir les messages de suivi", "Ne plus recevoir ces messages",
        f"Ne plus recevoir les messages de suivi sur la mise en pratique de ce cours{NBSP}?",
    ], absent=["Stop follow-up messages", "Stop these messages"])
    done = html.unescape(client.post(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert f"C'est fait{NBSP}: vous ne recevrez plus de messages de suivi" in done
    forged = client.get(url[:-3] + "x/", HTTP_ACCEPT_LANGUAGE="fr")
    assert forged.status_code == 400
    assert "Ce lien n'est pas valide. Vérifiez qu'il a été copié en entier." in html.unescape(forged.content.decode())


def test_api_errors_follow_the_active_language(course_key):
    with translation.override("fr"), pytest.raises(ActivationRequestError, match="Donnez un nom à la définition"):
        api.create_definition(course_key=course_key, name=" ", behavior="Uses it.", window_days=30, requirements=[])
    with pytest.raises(ActivationRequestError, match="Give the definition a name"):
        api.create_definition(course_key=course_key, name=" ", behavior="Uses it.", window_days=30, requirements=[])


def test_kpi_file_and_row_errors_follow_the_active_language():
    """Course staff read these in the CSV preview: the file's problem and each row's."""
    with translation.override("fr"):
        with pytest.raises(ActivationRequestError, match="colonnes external_id, metric"):
            list(csv_import.rows(io.BytesIO(b"id,value\n1,2\n"), "observations"))
        with pytest.raises(ActivationRequestError, match="La valeur doit être un nombre fini"):
            api.clean_observation({"metric": "sales", "external_id": "E1", "observed_at": "2026-01-01", "value": "inf"})
    with pytest.raises(ActivationRequestError, match="lacks the column"):
        list(csv_import.rows(io.BytesIO(b"id,value\n1,2\n"), "observations"))


def test_a_prompt_to_a_french_learner_has_the_french_footer(make_definition, course_key):
    from demo.models import DemoLanguagePreference  # pylint: disable=import-outside-toplevel
    make_definition(requirements=[{**PROJECT, "prompts": [{
        "send_after_days": 0, "subject": "How did it go?", "body": "Tell us.",
        "translations": {"fr": {"subject": "Alors ?", "body": "Racontez-nous."}}}]}])
    learner = UserFactory()
    DemoLanguagePreference.objects.create(user=learner, language="fr")
    now = timezone.now()
    api.open_windows(learner.pk, course_key, "passing", now)
    api.tick(now=now + timedelta(minutes=1))
    [message] = mail.outbox
    assert message.subject == "Alors ?"
    assert (f"Vous recevez ce message car vous avez terminé Applying Things. "
            f"Pour ne plus recevoir ces messages{NBSP}: http") in message.body
    assert "You receive this" not in message.body


def test_a_supervisor_is_invited_in_the_learners_language(client, learner, course_key, open_window):
    from demo.models import DemoLanguagePreference  # pylint: disable=import-outside-toplevel
    DemoLanguagePreference.objects.create(user=learner, language="fr")
    requirement = open_window.definition.requirements.get(kind="observation")
    with committed():
        api.invite_supervisor(open_window, requirement, "boss@example.org")
    [message] = mail.outbox
    assert message.subject.endswith(" vous demande de confirmer un comportement au travail")
    assert "Sinon, vous pouvez ignorer ce message." in message.body


def read_po(path):
    """
    ``{(msgctxt, msgid): (msgstrs, flags)}`` from a .po file: enough of the format for our
    catalogues. ``msgstrs`` is a tuple: one string, or each plural form (``msgstr[0]``, …) in order;
    a plural entry's msgid is ``(msgid, msgid_plural)``.
    """
    entries, entry, field = {}, None, None

    def close():
        if entry and entry["msgid"]:
            msgid = (entry["msgid"], entry["msgid_plural"]) if entry["msgid_plural"] else entry["msgid"]
            forms = tuple(entry[name] for name in sorted(entry) if name.startswith("msgstr"))
            entries[(entry["msgctxt"], msgid)] = (forms, entry["flags"])

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            close()
            entry, field = None, None
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid": "", "msgid_plural": "", "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgctxt ", "msgid ", "msgid_plural ", "msgstr ", "msgstr[")):
            field, _, value = line.partition(" ")
            entry[field] = _unquote(value)
        else:
            entry[field] += _unquote(line)
    return entries


def _translated(catalogue, ctx, msgid):
    """What the compiled catalogue gives for an entry of ``read_po``, as a tuple of forms."""
    if isinstance(msgid, tuple):
        return tuple(catalogue.ngettext(*msgid, count) for count in (1, 2))
    return (catalogue.pgettext(ctx, msgid) if ctx else catalogue.gettext(msgid),)


def _unquote(text):
    return ast.literal_eval(text.strip())


def test_every_french_string_is_translated_and_compiled():
    entries = read_po(FRENCH_PO)
    assert len(entries) > 300
    untranslated = [msgid for (ctx, msgid), (forms, flags) in entries.items() if not all(f.strip() for f in forms)]
    fuzzy = [msgid for (ctx, msgid), (forms, flags) in entries.items() if "fuzzy" in flags]
    assert untranslated == [] and fuzzy == []
    with open(FRENCH_PO.with_suffix(".mo"), "rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = [msgid for (ctx, msgid), (forms, flags) in entries.items() if _translated(catalogue, ctx, msgid) != forms]
    assert stale == [], "run `make compile_translations`"


def test_french_punctuation_takes_a_non_breaking_space():
    """French typography: a space before : ; ? ! % and inside « », never a plain one (a line could break there)."""
    plain = [form for forms, flags in read_po(FRENCH_PO).values() for form in forms
             if re.search(r" [:;?!»]| %(?!\()|« ", form)]
    assert plain == []


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_extraction_finds_no_string_missing_from_the_catalogue(tmp_path, domain):
    """
    ``make extract_translations`` on a copy of the package must neither add a msgid (a string marked
    but never extracted, so never translated) nor drop one (a catalogue left stale).
    """
    copy = tmp_path / "activation_plugin"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "vendor"))
    subprocess.run([sys.executable, str(MANAGE), "makemessages", "-l", "fr", "-d", domain,
                    "--no-obsolete"], cwd=copy, check=True, capture_output=True)
    extracted = copy / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"
    if domain == "djangojs":
        # The scripts hold no text (the charts' labels come from the server): no JavaScript catalogue.
        assert not extracted.exists() or not read_po(extracted)
    else:
        assert set(read_po(extracted)) == set(read_po(FRENCH_PO))


SOURCE_PO = PACKAGE / "conf" / "locale" / "en" / "LC_MESSAGES" / "django.po"


def test_the_english_source_catalogue_is_where_openedx_translations_takes_a_plugins_source():
    """
    OEP-58: the translations project extracts ``<module>/conf/locale/en`` and atlas pulls a plugin's
    catalogues back by that path. The source must list every string the shipped French translates,
    untranslated (English is the source language).
    """
    source = read_po(SOURCE_PO)
    assert set(source) == set(read_po(FRENCH_PO))
    assert {forms for forms, _flags in source.values()} <= {("",), ("", "")}
    assert not (LOCALE / "en").exists()  # no second English catalogue for Django to load


def test_a_catalogue_pulled_as_the_lms_pulls_plugins_translations_overrides_the_shipped_one(
        client, settings, tmp_path):
    """
    The LMS's ``pull_plugin_translations`` puts a plugin's catalogues in
    ``conf/plugins-locale/plugins/<module>/`` and adds that folder to ``LOCALE_PATHS``; those win over
    the French the wheel ships, which stays the fallback for a language nobody pulled.
    """
    pulled = tmp_path / "conf" / "plugins-locale" / "plugins" / "activation_plugin" / "fr" / "LC_MESSAGES"
    pulled.mkdir(parents=True)
    (pulled / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: fr\\n"\n\n'
        'msgid "This page does not exist"\nmsgstr "Page introuvable (traduction de la communauté)"\n',
        encoding="utf-8")
    subprocess.run(["msgfmt", "--check-format", "-o", str(pulled / "django.mo"), str(pulled / "django.po")],
                   check=True)
    client.force_login(UserFactory(is_staff=True))

    def missing_page_in_french():
        with translation.override("fr"):
            return html.unescape(client.get("/activation/courses/not-a-key/",
                                            HTTP_ACCEPT_LANGUAGE="fr").content.decode())

    assert "Cette page n'existe pas" in missing_page_in_french()
    settings.LOCALE_PATHS = [*settings.LOCALE_PATHS, str(pulled.parent.parent)]
    page = missing_page_in_french()
    assert "Page introuvable (traduction de la communauté)" in page
    assert "Aucun cours, aucune définition" in page  # a string the pulled file lacks: the shipped French
