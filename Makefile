# On a fresh machine (Python 3.11, Node 20):
#   make demo        compliance run of the simulated bench + Allure HTML report
#   make test        tipring's own tests
#   make benchmarks  the accuracy and speed figures (benchmarks/*.py)
# Each creates .venv and installs tipring into it when needed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tipring-installed
ALLURE := node_modules/.bin/allure

CHROMIUM := /usr/bin/chromium
ESPEAK   := /usr/bin/espeak-ng

.PHONY: demo test benchmarks spandsp report clean

# Debian packages the tests and benchmarks use, installed when running as root (as CI does).
apt_install = if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	else echo "$(1) is missing: sudo apt-get install $(1) ($(2))"; fi

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
	@$(call apt_install,chromium,the browser tests will be skipped)

# The DTMF talk-off tests listen to synthetic speech.
$(ESPEAK):
	@$(call apt_install,espeak-ng,the talk-off tests need it)

# spandsp (the DSP inside Asterisk and FreeSWITCH) is the reference the DSP benchmark compares with.
spandsp:
	@dpkg -s libspandsp2 >/dev/null 2>&1 || { $(call apt_install,libspandsp2,the DSP benchmark prints no spandsp column); }

test: $(STAMP) $(ALLURE) $(CHROMIUM) $(ESPEAK)
	$(PY) -m pytest tests

benchmarks: $(STAMP) $(ESPEAK) spandsp
	for script in dsp_accuracy instruments sim_suite; do $(PY) benchmarks/$$script.py || exit $$?; done

clean:
	rm -rf allure-results allure-report .pytest_cache
