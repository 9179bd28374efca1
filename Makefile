# The two commands of this project (see README.md):
#   make series   set up, then run the whole notebook series headless (executed notebooks + HTML + report)
#   make test     set up, then run the unit tests and every notebook under nbval (quick profile)
# Both create a virtual environment in .venv on first use; nothing else on the machine is touched.

PYTHON ?= python3
VENV ?= .venv
# Which TensorFlow to install: cpu (tensorflow-cpu), gpu (tensorflow[and-cuda]) or tf (plain tensorflow).
TF_EXTRA ?= cpu
# An optional pip constraints file that pins versions, e.g. CONSTRAINTS=.ci/colab-constraints.txt for
# Google Colab's versions (the CI job "colab" tests the series on them).
CONSTRAINTS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(TF_EXTRA)$(if $(CONSTRAINTS),-$(basename $(notdir $(CONSTRAINTS))))

export TF_CPP_MIN_LOG_LEVEL ?= 3
# oneDNN stays on: it trains about 1.8x faster on these CPUs (its start-up log line is harmless).
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED ?= 0

.PHONY: setup series test test-unit bench clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(TF_EXTRA),test]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $(STAMP)

series: setup
	FCN_PROFILE=$${FCN_PROFILE:-quick} $(BIN)/python scripts/run_series.py

test: setup
	FCN_PROFILE=$${FCN_PROFILE:-quick} FCN_STATIC_WIDGETS=1 MPLBACKEND=Agg \
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env --durations=15 -p no:cacheprovider

# Benchmarks (README, "Benchmarks"): every model and the copied recipes, one budget; ~15 min on 2 cores.
bench: setup
	FCN_PROFILE=$${FCN_PROFILE:-quick} $(BIN)/python -m fcnlib.bench

test-unit: setup
	$(BIN)/python -m pytest tests -p no:cacheprovider

clean-cache:
	rm -rf .cache/fcnlib

# Classroom (docs/INSTRUCTORS.md): student versions, autograding and feedback with nbgrader, in build/classroom/.
#   make release [HANDOUT_URL=...]          student versions of every notebook (build/classroom/handout/); their
#                                           badges open HANDOUT_URL's copy (a GitHub folder) or say to upload the file
#   make autograde SUBMISSIONS=path/to/dir  grade <dir>/<student>/NN_name.ipynb, write grades.csv and feedback
#   make feedback                           HTML feedback for graded submissions that have none yet
#   make exercises                          refresh the exercise table in docs/INSTRUCTORS.md
CLASSROOM ?= build/classroom

.PHONY: release autograde feedback exercises

release: setup
	$(BIN)/python scripts/classroom.py release --course $(CLASSROOM) $(if $(HANDOUT_URL),--handout-url "$(HANDOUT_URL)")

autograde: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=path/to/submissions" >&2; exit 2; }
	$(BIN)/python scripts/classroom.py autograde "$(SUBMISSIONS)" --course $(CLASSROOM)

feedback: setup
	$(BIN)/python scripts/classroom.py feedback --course $(CLASSROOM)

exercises: setup
	$(BIN)/python scripts/classroom.py list --write docs/INSTRUCTORS.md
