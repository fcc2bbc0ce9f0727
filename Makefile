# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test serve worker migrate lint bench clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest

serve: migrate
	$(BIN)/gunicorn readerstudy.wsgi:application --bind $(HOST):$(PORT) --workers 3

worker: install
	$(BIN)/celery -A readerstudy worker -Q default,inference --loglevel INFO --concurrency 2

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/import_cases.py

clean:
	rm -rf $(VENV) db.sqlite3 media var
