"""
The LMS's own translation pipeline for plugins (OEP-58) with the installed wheel: the platform's
code decides which modules it pulls catalogues for, compiles them and puts them on ``LOCALE_PATHS``.
"""
from types import SimpleNamespace

from django.utils import translation
from django.utils.translation import gettext
from path import Path as PlatformPath  # the type of the LMS's REPO_ROOT, whose methods the settings call

from openedx.core.djangoapps.plugins import i18n_api
from openedx.core.djangoapps.plugins.constants import plugins_locale_root
from openedx.core.djangoapps.plugins.settings import production as plugin_production_settings

MISSING_PAGE = "This page does not exist"


def test_the_lms_pulls_catalogues_for_this_plugin_by_its_module_name():
    """``pull_plugin_translations`` asks atlas for ``translations/*/activation_plugin/conf/locale``."""
    assert "activation_plugin" in i18n_api.get_installed_plugins_module_names()


def test_a_catalogue_the_lms_pulled_overrides_the_french_the_wheel_ships(settings, tmp_path):
    with translation.override("fr"):
        assert gettext(MISSING_PAGE) == "Cette page n'existe pas"  # the wheel's own French

    pulled = tmp_path / plugins_locale_root / "activation_plugin" / "fr" / "LC_MESSAGES"
    pulled.mkdir(parents=True)
    (pulled / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: fr\\n"\n\n'
        f'msgid "{MISSING_PAGE}"\nmsgstr "Page introuvable (traduction de la communauté)"\n', encoding="utf-8")
    i18n_api.compile_po_files(tmp_path / plugins_locale_root)  # the platform's compile_plugin_translations
    lms = SimpleNamespace(REPO_ROOT=PlatformPath(str(tmp_path)), LOCALE_PATHS=list(settings.LOCALE_PATHS))
    plugin_production_settings.plugin_settings(lms)
    settings.LOCALE_PATHS = lms.LOCALE_PATHS

    with translation.override("fr"):
        assert gettext(MISSING_PAGE) == "Page introuvable (traduction de la communauté)"
        assert gettext("Back to the course") == "Retour au cours"  # not in the pulled file: the shipped one
