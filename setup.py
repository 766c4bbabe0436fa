"""Packaging for activation-plugin: an Open edX Django app plugin (LMS and Studio)."""
import os
import re

from setuptools import find_namespace_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(*parts):
    with open(os.path.join(HERE, *parts), encoding="utf-8") as handle:
        return handle.read()


def version():
    match = re.search(r'^__version__ = "([^"]+)"', read("activation_plugin", "__init__.py"), re.M)
    return match.group(1)


def requirements(path):
    """Requirements from an ``.in`` file: the loose ranges, never the pins, so installs compose."""
    lines = (line.split("#")[0].strip() for line in read(path).splitlines())
    return [line for line in lines if line and not line.startswith(("-r", "-c"))]


ENTRY_POINT = "activation_plugin = activation_plugin.apps:ActivationPluginConfig"

setup(
    name="activation-plugin",
    version=version(),
    description="Open edX plugin that measures whether learners apply what a course taught.",
    long_description=read("README.md"),
    long_description_content_type="text/markdown",
    license_expression="AGPL-3.0-or-later",
    license_files=["LICENSE.txt"],
    # Every directory of the package, with or without an __init__.py: a Python folder that lacks one
    # (as kpi/ once did) still ships, and the data folders (templates, static, locale) are declared
    # packages rather than guessed at. MANIFEST.in names the data files each one carries.
    packages=find_namespace_packages(include=["activation_plugin", "activation_plugin.*"],
                                     exclude=["*.__pycache__"]),
    include_package_data=True,
    python_requires=">=3.12",
    install_requires=requirements("requirements/base.in"),
    # Optional: the xAPI transformers (activation_plugin/xapi) import these where Aspects installed
    # event-routing-backends in the LMS; ``activation-plugin[aspects]`` asks for them elsewhere.
    extras_require={"aspects": ["edx-event-routing-backends>=9.3", "tincan"]},
    entry_points={
        "lms.djangoapp": [ENTRY_POINT],
        "cms.djangoapp": [ENTRY_POINT],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Framework :: Django",
        "Framework :: Django :: 4.2",
        "Framework :: Django :: 5.2",
        "Intended Audience :: Education",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.12",
    ],
    zip_safe=False,
)
