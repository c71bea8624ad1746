# Two entry points for users: `make demo` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: install demo test lint browser

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/ecom demo

# The browser tests drive Debian's Chromium (never `playwright install`: it downloads a browser);
# Chinese text needs a CJK font. Installed once, when missing.
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: install browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=25 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
