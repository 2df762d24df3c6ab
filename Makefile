# Two commands on a fresh machine (Python 3.11, Node 20):
#   make demo   compliance run of the simulated bench + Allure HTML report
#   make test   tipring's own tests
# Both create .venv and install tipring into it when needed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tipring-installed
ALLURE := node_modules/.bin/allure

CHROMIUM := /usr/bin/chromium

.PHONY: demo test report clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(ALLURE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP) $(ALLURE)
	rm -rf allure-results allure-report
	$(PY) -m pytest testplans --alluredir=allure-results; status=$$?; \
	$(VENV)/bin/tipring report allure-results -o allure-report --single-file > .report-path || exit $$?; \
	echo "Allure report: $$(cat .report-path)"; rm -f .report-path; exit $$status

# The report tests open the report in a real browser: Debian's chromium, driven by playwright.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: sudo apt-get install chromium (the browser tests will be skipped)"; fi

test: $(STAMP) $(ALLURE) $(CHROMIUM)
	$(PY) -m pytest tests

clean:
	rm -rf allure-results allure-report .pytest_cache
