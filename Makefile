# `make test` is the one test command (README, .ci/run): it does its own set-up.
SHELL := /bin/bash
# /usr/bin/python3 (not a root-only pyenv) so that the real test users can run the venv.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test bench demo archive venv sysdeps clean minicluster minicluster-build demo-hadoop

# editable_mode=compat: the checkout goes on sys.path through a plain path .pth. The default mode
# installs an import-hook finder whose .pth imports pathlib & co. at every interpreter start:
# +0.026 CPU-s on every command (venv `python -c pass` 0.048 -> 0.022, as /usr/bin/python3), a
# fifth of the filters' 0.12 CPU-s start-up budget (issue 15). New modules are still picked up.
# setuptools calls this mode transitional (the warning below): should a release drop it, this
# line fails loudly; the default mode then works as before, only slower to start.
# (Makefile is a prerequisite: a venv made by an older recipe is re-installed this way.)
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

venv: $(STAMP)

# Java for the real Hadoop client, a JDK and Maven for the mini cluster, strace for the no-plaintext-on-disk test,
# MIT's kinit/klist/kdestroy (krb5-user) for the Kerberized mini cluster's users. Debian's krb5-config writes an
# /etc/krb5.conf for a realm on the Internet: the tests never use it (KRB5_CONFIG, -Djava.security.krb5.conf).
sysdeps:
	@need=""; command -v java >/dev/null || need="$$need default-jre-headless"; \
	command -v javac >/dev/null || need="$$need default-jdk-headless"; \
	command -v mvn >/dev/null || need="$$need maven"; \
	command -v strace >/dev/null || need="$$need strace"; \
	command -v kinit >/dev/null || need="$$need krb5-user"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; \
	  else echo "make: missing$$need (tests that need them will skip)"; fi; fi

# The real HDFS + YARN for tests (tests/minicluster, docs/HADOOP.md). Maven's cache is ~/.m2:
# the first build on a fresh machine downloads ~115 MB of jars from Maven Central.
MINICLUSTER := tests/minicluster
MC_STAMP := $(MINICLUSTER)/target/.built
$(MC_STAMP): $(MINICLUSTER)/pom.xml $(shell find $(MINICLUSTER)/src -type f 2>/dev/null)
	cd $(MINICLUSTER) && mvn -B -q compile
	touch $@

minicluster-build: sysdeps $(MC_STAMP)

# In the foreground until Ctrl-C; MINICLUSTER_ENV=FILE gets the export lines (default: printed).
# KERBEROS=1: a Kerberized HDFS (MiniKdc, no YARN); PRINCIPALS="alice bob" makes those users' principals
# and keytabs (docs/HADOOP.md).
minicluster: venv minicluster-build
	cd tests && ../$(BIN)/python -m harness.minicluster $(if $(MINICLUSTER_ENV),--env-file $(abspath $(MINICLUSTER_ENV))) \
	  $(if $(KERBEROS),--kerberos $(foreach p,$(PRINCIPALS),--principal $(p)))

# The 25 slowest tests are listed at the end: .ci/run has a 30-minute budget on a 2-core machine.
PYTEST_ARGS ?= --durations=25
# Bytecode first: with PYTHONDONTWRITEBYTECODE set (as on these machines) every CLI process the tests
# start would compile our sources again (~0.1 CPU-s each, thousands of processes); a stale .pyc is
# ignored by Python (source mtime), so compiling here is always safe.
test: venv sysdeps minicluster-build
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q hdfs2s3kit
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv sysdeps
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

demo: venv
	$(BIN)/hdfs2s3kit demo

# The demo's story on a real mini HDFS + YARN of its own (tests/harness/demo_hadoop.py starts moto,
# the cluster and `hdfs2s3kit demo --hadoop`, then stops and removes them): a few minutes.
demo-hadoop: venv minicluster-build archive
	cd tests && ../$(BIN)/python -m harness.demo_hadoop --archive ../hdfs2s3kit-archive.tgz

# The toolkit and its dependencies in one .tgz for Hadoop Streaming's -archives (docs/HADOOP.md).
archive: venv
	$(BIN)/python bin/build-archive -o hdfs2s3kit-archive.tgz

clean:
	rm -rf $(VENV) .pytest_cache $(MINICLUSTER)/target
