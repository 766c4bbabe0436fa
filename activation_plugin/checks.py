"""
System checks: what an operator should know about this install, printed by ``manage.py check``,
``migrate`` and the servers' start-up, instead of a feature that silently never runs.
"""
from django.core import checks
from openedx_filters import __version__ as openedx_filters_version

from activation_plugin.settings.common import mfe_tabs_filter_available

MFE_TAB_UNAVAILABLE = "activation_plugin.I001"


@checks.register()
def mfe_tab_availability(app_configs, **kwargs):  # pylint: disable=unused-argument
    """The instructor dashboard MFE gets its Activation tab only from openedx-filters 3.4 on."""
    if mfe_tabs_filter_available():
        return []
    return [checks.Info(
        f"openedx-filters {openedx_filters_version} has no InstructorDashboardTabsRequested filter (it came "
        "in 3.4), so the instructor dashboard MFE shows no Activation tab on this platform.",
        hint="Course staff reach Activation through the legacy instructor dashboard's section or at "
             "/activation/courses/<course_id>/. Silence with SILENCED_SYSTEM_CHECKS = ['activation_plugin.I001'].",
        id=MFE_TAB_UNAVAILABLE,
    )]
