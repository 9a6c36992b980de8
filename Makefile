# Operations automation collection. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK_HASH := $(shell sha256sum requirements.lock requirements-dev.lock requirements-uv.lock pyproject.toml dev/pyproject.toml | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
UV := $(VENV)/bin/uv
# pytest-xdist workers: more than the 2 cores, since the integration tests wait on servers and ansible-playbook runs.
# --dist load --maxschedchunk 1 hands the tests out in collection order (the longest first: tests/conftest.py), at most
# two queued per worker, so the molecule scenarios start on every worker at once and no worker ends with a queue of
# long tests while the others idle (by default the first worker gets the first quarter of a quarter of the tests).
WORKERS ?= 4
PYTEST_OPTS ?=
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Keep Ansible's and Molecule's state out of ~/.ansible.
export ANSIBLE_HOME := $(CURDIR)/.ansible-home
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Let Python cache compiled modules (__pycache__): with PYTHONDONTWRITEBYTECODE set (as some shells and CI images do)
# every ansible-playbook run, module run and ops-driver call compiles ansible-core, boto3 and the rest from source
# again - about half of the controller's CPU time per playbook run on this machine (1.07 -> 0.57 CPU-s, trivial play).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv sysdeps demo test check unit integration molecule lint bench lock clean sandbox-up sandbox-down

venv: $(STAMP)

# The virtual environment, from the lock file (hashes required), then this project in editable mode. uv (itself
# pinned with its hashes in requirements-uv.lock) installs it: the same packages as pip, in seconds, not minutes.
$(STAMP): requirements.lock requirements-dev.lock requirements-uv.lock pyproject.toml dev/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements-uv.lock 2> >(grep -v "is ignored: it is neither" >&2)
	$(UV) pip install -q --python $(PY) --require-hashes --no-deps -r requirements.lock -r requirements-dev.lock
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e . -e dev
	$(VENV)/bin/pybabel -q compile -d ops_driver/locale -D ops_driver
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian packages the tests and the sandbox need, each installed only when its command is missing, all with one
# apt-get update: 7-Zip (p7zip-full, archive interoperability), rsync (the NAS bench), and the web servers of the
# sandbox's web stack (dev/ops_sandbox/web.py: nginx and haproxy under supervisord), and Chromium with its driver
# (chromium, chromium-driver: the headless-browser test of the monthly record's HTML page, tests/integration/
# test_records_page.py; Selenium is given both paths and never downloads a browser), with a Japanese font
# (fonts-ipafont-gothic, 3.5 MB) so that the page's screenshot shows the task names. Each entry is what must exist
# (a command on PATH, or an absolute path) and, after the colon, the Debian package that provides it.
# Installing nginx/haproxy must not start the system-wide services (invoke-rc.d would start nginx on port 80):
# unless /usr/sbin/policy-rc.d already exits 101, a temporary one that does is put in place for the install and
# removed afterwards (any other policy-rc.d found is put back).
SYSDEPS := 7z:p7zip-full rsync:rsync nginx:nginx haproxy:haproxy chromium:chromium chromedriver:chromium-driver \
	/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf:fonts-ipafont-gothic gpg:gnupg ssh-keygen:openssh-client
sysdeps:
	@missing=; for pair in $(SYSDEPS); do need=$${pair%%:*}; \
	  if [ "$${need#/}" != "$$need" ]; then [ -e "$$need" ]; else command -v "$$need" >/dev/null; fi || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing (system services not started)"; \
	  prc=/usr/sbin/policy-rc.d; saved=; created=; \
	  if [ -x $$prc ] && { $$prc nginx start >/dev/null 2>&1; [ $$? = 101 ]; }; then \
	    echo "$$prc already forbids starting services"; \
	  else \
	    if [ -e $$prc ]; then saved=$$prc.ops-driver-saved; mv $$prc $$saved; fi; \
	    printf '#!/bin/sh\n# temporary (make sysdeps): start no service while installing\nexit 101\n' > $$prc; \
	    chmod 755 $$prc; created=1; \
	  fi; \
	  trap 'if [ -n "$$created" ]; then rm -f $$prc; [ -z "$$saved" ] || mv $$saved $$prc; fi' EXIT; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: venv sysdeps
	bash scripts/demo.sh

# The whole suite: ruff and mypy, then unit, integration and molecule tests (tests/molecule runs each role's scenario)
# in one pytest-xdist pool, the longest first. pytest exits 5 when it collects no test: for this project that is a
# failure, never a pass. The 15 slowest tests are printed at the end.
# ansible-lint (~100 CPU-s, a third of it serial syntax checks) runs beside pytest at a lower priority (nice): it takes
# the CPU the workers leave idle while they wait on servers, not theirs. Its output is printed after pytest's, and
# either failing fails the target.
test: venv sysdeps
	ruff check ops_driver dev tests library module_utils doc_fragments filter_plugins action_plugins bench scripts
	mypy
	@mkdir -p $(ANSIBLE_HOME); nice -n 15 ansible-lint --offline --profile production > $(ANSIBLE_HOME)/ansible-lint.out 2>&1 & al=$$!; \
	  start=$$(date +%s); $(PY) -m pytest -n $(WORKERS) --dist load --maxschedchunk 1 --durations=15 $(PYTEST_OPTS) tests; rc=$$?; \
	  echo "make test: pytest took $$(( $$(date +%s) - start )) s with $(WORKERS) workers (rc $$rc)"; \
	  wait $$al; alrc=$$?; echo "ansible-lint --offline --profile production (rc $$alrc):"; cat $(ANSIBLE_HOME)/ansible-lint.out; \
	  rm -f $(ANSIBLE_HOME)/ansible-lint.out; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; exit 1; fi; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$alrc

# The edit-test loop (well under 2 minutes): ruff, mypy and the unit tests, with ansible-lint beside them.
check: venv
	@mkdir -p $(ANSIBLE_HOME); ansible-lint --offline --profile production -q > $(ANSIBLE_HOME)/ansible-lint.out 2>&1 & al=$$!; \
	  ruff check ops_driver dev tests library module_utils doc_fragments filter_plugins action_plugins bench scripts && mypy \
	    && $(PY) -m pytest -q -n 2 tests/unit; rc=$$?; \
	  wait $$al; alrc=$$?; cat $(ANSIBLE_HOME)/ansible-lint.out; rm -f $(ANSIBLE_HOME)/ansible-lint.out; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; exit 1; fi; \
	  [ $$rc -eq 0 ] && [ $$alrc -eq 0 ]

unit: venv sysdeps
	$(PY) -m pytest tests/unit

integration: venv sysdeps
	$(PY) -m pytest -n $(WORKERS) --dist load --maxschedchunk 1 tests/integration

# Each role's molecule scenario (syntax, prepare, check, converge, idempotence, verify, cleanup), one test each.
molecule: venv sysdeps
	$(PY) -m pytest -n $(WORKERS) --dist load --maxschedchunk 1 tests/molecule

lint: venv
	ruff check ops_driver dev tests library module_utils doc_fragments filter_plugins action_plugins bench scripts
	mypy
	ansible-lint --offline --profile production

bench: venv sysdeps
	$(PY) bench/run.py
	$(PY) bench/nas.py
	$(PY) bench/esa.py
	$(PY) bench/records.py
	$(PY) bench/load.py
	$(PY) bench/inputs.py
	$(PY) bench/checks.py
	$(PY) bench/render.py

sandbox-up: venv sysdeps
	ops-driver sandbox up
sandbox-down: venv
	ops-driver sandbox down

# Regenerate the locks (needs network access to PyPI): requirements.lock from requirements.in (runtime: what the
# execution environment and a production install get), requirements-dev.lock from requirements-dev.in (tests, lint,
# the sandbox, AWX tools), constrained to the runtime lock's versions.
lock: venv
	$(UV) pip compile --python-version 3.11 --generate-hashes requirements.in -o requirements.lock
	$(UV) pip compile --python-version 3.11 --generate-hashes requirements-dev.in -o requirements-dev.lock
	$(UV) pip compile --python-version 3.11 --generate-hashes requirements-uv.in -o requirements-uv.lock

# The gettext catalogs (docs/development.md): the messages of the code (babel.cfg) into ops_driver/locale/ops_driver.pot,
# merged into each language's .po; fill the new empty msgstr, then commit. A changed .po is compiled at first use.
.PHONY: messages
messages: venv
	$(VENV)/bin/pybabel extract -F babel.cfg --no-location --sort-output -k N_ -k NP_:1c,2 \
		-o ops_driver/locale/ops_driver.pot .
	$(VENV)/bin/pybabel update -i ops_driver/locale/ops_driver.pot -d ops_driver/locale -D ops_driver \
		--ignore-obsolete -w 120

clean:
	-ops-driver sandbox down
	rm -rf $(VENV) .ansible-home .pytest_cache .mypy_cache .ruff_cache

# AWX / Ansible Tower (issue #16). `make ee`: execution-environment.yml and execution-environment/ from the lock file
# (ansible-builder 3; building the image needs a container engine: ansible-builder build). GnuPG (SYSDEPS) signs.
ee: venv
	ops-driver tower ee

# `make sign`: sign the committed project content with ansible-sign (GPG), for AWX's content signing verification.
# The files of HEAD (git archive: no uncommitted change, no local file) are signed as MANIFEST.in selects them, the
# signature is verified, and .ansible-sign/ (the SHA-256 list and its detached signature) is copied here: commit it.
# GNUPGHOME and SIGN_KEY (a key fingerprint; default the first secret key) choose the key; without a terminal set
# GPG_TTY (the agent asks for the passphrase). SIGN_TREE=DIR signs DIR in place (the test does). Never commit a key.
SIGN_TREE ?=
.PHONY: ee sign
sign: venv
	@set -euo pipefail; tree="$(SIGN_TREE)"; tmp=; \
	if [ -z "$$tree" ]; then tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; tree=$$tmp; \
	  git archive --format=tar HEAD | tar -x -C "$$tree"; fi; \
	home=$${GNUPGHOME:+--gnupg-home $$GNUPGHOME}; \
	ansible-sign project gpg-sign $$home $${SIGN_KEY:+--fingerprint $$SIGN_KEY} "$$tree"; \
	ansible-sign project gpg-verify $$home "$$tree"; \
	if [ -n "$$tmp" ]; then rm -rf .ansible-sign; cp -r "$$tree/.ansible-sign" .; echo "signed HEAD: commit .ansible-sign/"; fi
