# The two commands of this project (see README.md):
#   make series   set up, then run the whole notebook series headless (executed notebooks + HTML + report)
#   make test     set up, then run every notebook under nbval and the unit tests, side by side (quick profile)
# Both create a virtual environment in .venv on first use; nothing else on the machine is touched.

PYTHON ?= python3
VENV ?= .venv
# Which TensorFlow to install: cpu (tensorflow-cpu), gpu (tensorflow[and-cuda]) or tf (plain tensorflow).
# The default depends on the platform, as in fcnlib/install.py: tensorflow-cpu exists only for x86_64
# Linux and Windows; macOS (Apple Silicon, and Intel up to TensorFlow 2.16) and ARM Linux get tensorflow.
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m)
TF_EXTRA ?= $(if $(and $(filter x86_64 amd64 AMD64,$(UNAME_M)),$(filter Linux MINGW% MSYS% CYGWIN%,$(UNAME_S))),cpu,tf)
# An optional pip constraints file that pins versions, e.g. CONSTRAINTS=.ci/colab-constraints.txt for
# Google Colab's versions (the CI job "colab" tests the series on them).
CONSTRAINTS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(TF_EXTRA)$(if $(CONSTRAINTS),-$(basename $(notdir $(CONSTRAINTS))))

export TF_CPP_MIN_LOG_LEVEL ?= 3
# oneDNN on, also on x86 CPUs without AVX-512 where TensorFlow leaves it off: it trains 1.6-1.8x faster on
# these CPUs (the notebooks' setup cells turn it on too and hold back its start-up notice:
# fcnlib.environment.import_tensorflow_quietly).
export TF_ENABLE_ONEDNN_OPTS ?= 1
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED ?= 0

.PHONY: setup series test test-unit bench clean-cache browser gpu-check

setup: $(STAMP)

# setuptools' editable install emits an InformationOnly notice ("Editable installation. Please be careful
# with folders ... named like your package"): top-level data/ is mapped to fcnlib.data, which needs its
# meta path finder. The notice changes nothing; the filter keeps it out of the set-up's output.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" \
	$(BIN)/python -m pip install --quiet -e ".[$(TF_EXTRA),lab,test,classroom]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $(STAMP)

series: setup
	FCN_PROFILE=$${FCN_PROFILE:-quick} $(BIN)/python scripts/run_series.py

# make test runs the notebooks under nbval and the unit tests side by side (scripts/run_tests.py);
# TEST_ARGS=--one-after-the-other runs them in sequence.
test: setup browser
	FCN_PROFILE=$${FCN_PROFILE:-quick} FCN_STATIC_WIDGETS=1 MPLBACKEND=Agg \
	$(BIN)/python scripts/run_tests.py $(TEST_ARGS)

# The browser test (tests/test_browser.py) drives a system Chromium; Playwright never downloads one. As
# root with apt-get (CI), Debian's chromium is installed when missing; elsewhere the test is skipped.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || command -v google-chrome >/dev/null 2>&1 || [ -n "$$FCN_BROWSER" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "Could not install chromium: tests/test_browser.py will be skipped."; \
	else echo "No Chromium found: tests/test_browser.py will be skipped (install chromium to run it)."; fi

# The benchmark (bench/README.md): every model and the copied recipes, one budget (docs/RUNTIMES.md).
bench: setup
	FCN_PROFILE=$${FCN_PROFILE:-quick} $(BIN)/python -m bench

# On a machine with a GPU: the gpu profile's epoch times, images/s and peak memory, measured on synthetic
# VOC-layout scenes with random weights (no download); the tests run its --smoke mode on the CPU.
gpu-check: setup
	$(BIN)/python scripts/gpu_check.py --json build/gpu_check.json

test-unit: setup
	$(BIN)/python -m pytest tests bench -p no:cacheprovider

clean-cache:
	rm -rf .cache/fcnlib

# Classroom (docs/INSTRUCTORS.md): student versions, autograding and feedback with nbgrader, in build/classroom/.
#   make release [HANDOUT_URL=...]          student versions of every notebook (build/classroom/handout/); their
#                                           badges open HANDOUT_URL's copy (a GitHub folder) or say to upload the file
#   make autograde SUBMISSIONS=path/to/dir  grade <dir>/<student>/NN_name.ipynb, write grades.csv and feedback
#   make feedback                           HTML feedback for graded submissions that have none yet
#   make exercises                          refresh the exercise table (docs/INSTRUCTORS.md) and summary (README.md)
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
