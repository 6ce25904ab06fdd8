# Slotlens: `make run` to try it, `make test` to check it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

# The compiled catalogues of translations/ (built here and in the image, never committed).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

.PHONY: run test bench clean messages

run: $(VENV)/.app-installed $(CATALOGUES)
	$(BIN)/python -m devtools.run

test: $(VENV)/.test-installed $(CATALOGUES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(BIN)/python -m bench.run

$(VENV)/.app-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.app-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

%.mo: %.po $(VENV)/.app-installed
	$(BIN)/pybabel compile --statistics --input-file $< --output-file $@

# After changing texts: extract them and bring every language's catalogue up to date
# (new messages appear untranslated, and tests/test_languages.py says which).
messages: $(VENV)/.app-installed
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords _l --no-location --sort-output --no-wrap \
	  --ignore-dirs ".* _* tests bench scripts docs deploy instance" --project Slotlens --output-file translations/messages.pot .
	$(BIN)/pybabel update --input-file translations/messages.pot --output-dir translations --no-fuzzy-matching --ignore-obsolete --no-wrap

clean:
	rm -rf $(VENV) instance $(CATALOGUES)
