# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test serve worker migrate lint bench clean messages

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# DEMO=1, not DEBUG=1: visitors see the project's own error pages, never Django's debug page
# (static files are served from static/ by WhiteNoise, e-mail is printed here).
demo: migrate
	DEMO=1 $(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	DEMO=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest

# Production command line: compressed, hashed static files collected first and served by WhiteNoise.
serve: migrate
	STATIC_HASHED=1 $(BIN)/python manage.py collectstatic --noinput -v 0
	STATIC_HASHED=1 $(BIN)/gunicorn readerstudy.wsgi:application --bind $(HOST):$(PORT) --workers 3

# One process per queue: the inference worker loads its model once (use --pool solo on a GPU). The
# default worker embeds beat (--beat), which resends work whose broker message was lost every minute.
worker: install
	$(BIN)/celery -A readerstudy worker -Q default --beat --loglevel INFO --concurrency 2 -n default@%h &
	$(BIN)/celery -A readerstudy worker -Q inference --loglevel INFO --pool solo -n inference@%h

# Translations (README "Languages"): extract the strings of templates/, readerstudy/, inference/ and
# static/readerstudy/ into locale/<lang>/LC_MESSAGES/django.po and djangojs.po, fill the msgstr from the
# reviewed JSON sources in locale/translations/, then compile the .mo files (committed).
LANGS := zh_Hans es de fr
MAKEMESSAGES := $(BIN)/python manage.py makemessages --no-obsolete --no-wrap $(foreach l,$(LANGS),-l $(l))
messages: install
	$(MAKEMESSAGES) -d django -i ".venv/*" -i "tests/*" -i "bench/*" -i "deploy/*" -i "staticfiles/*" -i "static/*" -i "media/*" -i "var/*"
	$(MAKEMESSAGES) -d djangojs -i ".venv/*" -i "staticfiles/*" -i "static/vendor/*" -i "tests/*" -i "node_modules/*"
	$(BIN)/python scripts/fill_po.py
	$(BIN)/python manage.py compilemessages --ignore ".venv/*"

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/import_cases.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm media var staticfiles
