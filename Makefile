# One entry point for people and CI. `make demo` runs the product, `make test` runs every test.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Exported: the seed and the demo's settings build every link (mail, headers, KPI source) from it.
export DEMO_PORT ?= 8000
PIP_COMPILE := $(BIN)/pip-compile -q --allow-unsafe --no-strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: help demo serve test test-fast test-sqlite test-mariadb dist test-installed test-platform annotations docs bench load vendor screenshots \
	requirements upgrade openapi extract_translations compile_translations clean system-deps services quality

help: ## list the targets
	@grep -E '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

system-deps: ## Debian packages the tests need: MariaDB client headers (mysqlclient) and Chromium
	@missing=""; \
	pkg-config --exists mysqlclient 2>/dev/null || missing="$$missing pkg-config default-libmysqlclient-dev"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PY): requirements/test.txt requirements/doc.txt setup.py | system-deps
	python=$$(scripts/find-python) && "$$python" -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/test.txt -r requirements/doc.txt
	$(BIN)/pip install -q --no-deps -e .
	@touch $(PY)

requirements: $(PY) ## create the virtualenv and install the pinned requirements

services: ## start MariaDB and Redis if they are down (CI machines have them installed)
	@scripts/start-services

demo: $(PY) ## migrate, seed a demo course, fire real completion events and serve on localhost
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_portfolio
	$(MAKE) --no-print-directory serve

serve: $(PY)
	$(PY) manage.py runserver 127.0.0.1:$(DEMO_PORT)

test: test-sqlite annotations docs ## the whole suite on SQLite, PII annotation coverage and the docs build

# One worker per core (pytest-xdist), each with its own test database. Tests that share something
# outside it (a build in the source tree) carry the same xdist_group mark and run in one worker;
# `make test PARALLEL=` runs the suite in one process.
PARALLEL ?= -n auto --dist loadgroup
# pytest exits 5 when it collected nothing: a broken suite, reported as such, never a pass.
PYTEST_RUN = $(BIN)/pytest $(PARALLEL) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$status

test-sqlite: $(PY)
	$(PYTEST_RUN)

test-fast: override PYTEST_ARGS += -m "not browser and not slow"
test-fast: $(PY) ## the quick loop while coding: the suite without the browser and the slow (build, install, process) tests
	$(PYTEST_RUN)

test-mariadb: $(PY) services ## the whole suite again on MariaDB (127.0.0.1:3306)
	export DEMO_DB=mariadb; $(PYTEST_RUN)

dist: $(PY) ## build the sdist and wheel operators install (dist/): no build warning, twine-checked
	scripts/build-dist $(PY)

PINS ?= verawood
DB ?= sqlite
test-installed: dist services ## the suite on the installed wheel under a platform's pins (PINS=verawood|master|snapshot-2025-11-27|lowest DB=sqlite|mariadb)
	scripts/test-installed $(PINS) $(DB) $(PYTEST_ARGS)

test-platform: dist services ## the wheel inside the edx-platform snapshot (../shared/platform): lms/cms check, migrations on MariaDB, tests_platform/
	scripts/platform-env all dist/activation_plugin-*.whl $(PYTEST_ARGS)

# The linters go into the same venv (pylint imports the code); the stamp reinstalls them when
# requirements/quality.txt changes or the venv is rebuilt.
QUALITY_STAMP := $(VENV)/.quality-installed
$(QUALITY_STAMP): requirements/quality.txt $(PY)
	$(BIN)/pip install -q -r requirements/quality.txt
	@touch $(QUALITY_STAMP)

# The tests are linted too, as the cookiecutter does, with the same pylintrc less what pytest's idioms trip:
# fixtures arrive as arguments named like the fixture functions (redefined-outer-name) and some are requested
# for their effect only (unused-argument); `[row] = rows` asserts exactly one (unbalanced-tuple-unpacking);
# `== []` shows the value when it fails (use-implicit-booleaness-not-comparison); a test's name says what it
# checks (missing-function-docstring); pycodestyle checks line length, honouring `# noqa` (line-too-long); a
# subprocess or /dev/null handle lives for the whole test, closed in its `finally` (consider-using-with).
TESTS_PYLINT_DISABLE := redefined-outer-name,unused-argument,unbalanced-tuple-unpacking,use-implicit-booleaness-not-comparison,missing-function-docstring,line-too-long,consider-using-with
# All of them run even when one fails, so that one pass shows every message. lint-imports checks the
# layers declared as import-linter contracts in setup.cfg (no cache: the tree is small, the answer fresh).
LINTED := activation_plugin tests demo benchmarks scripts tests_platform
quality: $(QUALITY_STAMP) ## the Open edX linters: pylint (edx-lint's pylintrc), pycodestyle, isort, import-linter
	status=0; \
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/pylint activation_plugin demo benchmarks || status=1; \
	PYTHONPATH=. DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/pylint --disable=$(TESTS_PYLINT_DISABLE) tests || status=1; \
	$(BIN)/pycodestyle $(LINTED) || status=1; \
	$(BIN)/isort --check-only --diff $(LINTED) || status=1; \
	PYTHONPATH=. $(BIN)/lint-imports --no-cache || status=1; \
	exit $$status

annotations: $(PY) ## every model carries a .. pii: annotation
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/code_annotations django_find_annotations \
		--config_file .pii_annotations.yml --lint --report --coverage --app_name activation_plugin \
		--report_path $$(mktemp -d)

docs: $(PY) ## build the Sphinx docs, warnings are errors
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

screenshots: $(PY) ## retake the docs' screenshots from the browser tests (docs/images/)
	ACTIVATION_SCREENSHOTS=docs/images $(BIN)/pytest -q -m browser tests/test_browser_tab.py tests/test_browser_learner.py

openapi: $(PY) ## regenerate docs/references/openapi.yaml, the REST API's schema (a test fails when it drifts)
	DJANGO_SETTINGS_MODULE=demo.settings $(PY) manage.py activation_openapi

bench: $(PY) services ## benchmarks on MariaDB; prints ratios measured in one run
	DEMO_DB=mariadb $(PY) -m benchmarks

LOAD_ARGS ?= --seconds 60 --rate 25
load: $(PY) services ## the demo under gunicorn and a bounded loopback load mix: latencies, throughput, integrity
	DEMO_DB=mariadb $(PY) -m benchmarks.load $(LOAD_ARGS)

extract_translations: $(PY) ## regenerate the catalogues: the OEP-58 source (conf/locale/en) and the shipped French
	cd activation_plugin && ../$(PY) ../manage.py makemessages -l en -l fr -d django --no-obsolete
	cd activation_plugin && ../$(PY) ../manage.py makemessages -l en -l fr -d djangojs --no-obsolete
	# The English source goes where openedx-translations and atlas expect a plugin's (<module>/conf/locale).
	mkdir -p activation_plugin/conf/locale/en/LC_MESSAGES
	mv activation_plugin/locale/en/LC_MESSAGES/*.po activation_plugin/conf/locale/en/LC_MESSAGES/
	rm -r activation_plugin/locale/en

compile_translations: $(PY) ## compile the shipped catalogues (English is the source: nothing to compile)
	cd activation_plugin && ../$(PY) ../manage.py compilemessages -x en

upgrade: $(PY) ## re-pin requirements/*.txt from the .in files
	$(BIN)/pip install -q pip-tools
	cd requirements && for name in base test doc dev quality; do ../$(PIP_COMPILE) -U -o $$name.txt $$name.in; done

CHARTJS_VERSION := 4.6.1
CHARTJS_DIR := activation_plugin/static/activation_plugin/vendor/chart.js
vendor: ## re-vendor the pinned Chart.js from the npm registry (npm checks the tarball's integrity)
	tmp=$$(mktemp -d) && cd $$tmp && npm pack -q chart.js@$(CHARTJS_VERSION) >/dev/null && tar xzf chart.js-$(CHARTJS_VERSION).tgz && \
	cp package/dist/chart.umd.min.js package/dist/chart.umd.min.js.map package/LICENSE.md $(CURDIR)/$(CHARTJS_DIR)/ && \
	rm -rf $$tmp
	sha256sum $(CHARTJS_DIR)/chart.umd.min.js

AXE_VERSION := 4.14.1
vendor-axe: ## re-vendor axe-core (tests only, not shipped) from the npm registry
	tmp=$$(mktemp -d) && cd $$tmp && npm pack -q axe-core@$(AXE_VERSION) >/dev/null && tar xzf axe-core-$(AXE_VERSION).tgz && \
	cp package/axe.min.js package/LICENSE $(CURDIR)/tests/vendor/axe-core/ && rm -rf $$tmp
	sha256sum tests/vendor/axe-core/axe.min.js

clean: ## remove the virtualenv, build output and demo database
	rm -rf $(VENV) build dist *.egg-info docs/_build demo/db.sqlite3 demo/media .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
