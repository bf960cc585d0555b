#!/usr/bin/env bash
# scripts/test.sh - run aiodb's whole test suite. This is the one command to use.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -run Replica -v extra flags go to the main `go test` run
#                                   (and to nested modules' runs), before ./...
#
# As root it first runs scripts/test-env.sh, which starts/builds the local
# PostgreSQL, MariaDB and ODBC fixtures. It then exports the AIODB_TEST_* DSNs
# for the servers that answer; tests whose DSN is unset skip themselves with a
# reason, so a non-root user without servers still runs the SQLite tests.
# With CI set every DSN is exported unconditionally: a missing server makes the
# tests fail instead of skip.
#
# Knobs: a DSN variable that is already set (even to "") is kept as is, e.g.
# `AIODB_TEST_MYSQL= scripts/test.sh` leaves MySQL out. SKIP_TEST_ENV=1 skips
# test-env.sh. GO=/path/to/go picks the go binary. GOFLAGS works as usual.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
ROOT_DIR=$PWD

say() { printf '[test.sh] %s\n' "$*"; }

# ------------------------------------------------------------------ servers

setup_servers() {
	if [ "${SKIP_TEST_ENV:-0}" = 1 ]; then
		say "SKIP_TEST_ENV=1: not running scripts/test-env.sh"
	elif [ "$(id -u)" = 0 ]; then
		bash scripts/test-env.sh
	else
		say "not root: skipping scripts/test-env.sh, using whatever database servers already run"
	fi
}

tcp_open() { timeout 3 bash -c ">/dev/tcp/$1/$2" 2>/dev/null; }

pg_answers() { # PORT...
	local port
	for port; do
		if command -v pg_isready >/dev/null; then
			pg_isready -q -t 3 -h 127.0.0.1 -p "$port" -U postgres || return 1
		else
			tcp_open 127.0.0.1 "$port" || return 1
		fi
	done
}

mysql_answers() { # PORT...   (mariadb-admin ping is 0 even on "access denied": it only asks "is it up")
	local port admin
	admin=$(command -v mariadb-admin || command -v mysqladmin || true)
	for port; do
		if [ -n "$admin" ]; then
			"$admin" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u root --connect-timeout=3 ping >/dev/null 2>&1 || return 1
		else
			tcp_open 127.0.0.1 "$port" || return 1
		fi
	done
}

odbc_pg_answers() { # unixODBC's isql present, DSN "pg" defined, and its server up
	command -v isql >/dev/null && command -v odbcinst >/dev/null || return 1
	grep -qx '\[pg\]' <<<"$(odbcinst -q -s 2>/dev/null)" || return 1
	pg_answers 5432
}

# set_dsn NAME VALUE PROBE...: export NAME=VALUE if PROBE succeeds (always in CI).
set_dsn() {
	local name=$1 value=$2; shift 2
	if [ -n "${!name+set}" ]; then
		say "$name kept from the environment: '${!name}'"
	elif [ -n "${CI:-}" ] || "$@"; then
		export "$name=$value"
		say "$name=$value"
	else
		say "$name not set: no server answered ($*), those tests will skip"
	fi
}

export_dsns() {
	local pg='postgres://postgres@127.0.0.1:%s/test?sslmode=disable'
	local my='mysql://root@127.0.0.1:%s/test' app='mysql://app:app@127.0.0.1:%s/test'
	# shellcheck disable=SC2059
	{
		set_dsn AIODB_TEST_POSTGRES "$(printf "$pg" 5432)" pg_answers 5432
		set_dsn AIODB_TEST_POSTGRES_REPLICAS "$(printf "$pg $pg $pg" 5432 5433 5434)" pg_answers 5432 5433 5434
		set_dsn AIODB_TEST_MYSQL "$(printf "$my" 3306)" mysql_answers 3306
		set_dsn AIODB_TEST_MYSQL_REPLICAS "$(printf "$my $my" 3306 3307)" mysql_answers 3306 3307
		set_dsn AIODB_TEST_MYSQL_APP "$(printf "$app" 3306)" mysql_answers 3306
		set_dsn AIODB_TEST_MYSQL_APP_REPLICAS "$(printf "$app $app" 3306 3307)" mysql_answers 3306 3307
		set_dsn AIODB_TEST_ODBC 'odbc://pg?aiodb_odbc_dialect=postgres&protocol=7.4-0&useserversideprepare=0' odbc_pg_answers
	}
}

# ------------------------------------------------------------------ go

step() { say "+ $*"; "$@"; }

# -race needs cgo, and go turns cgo off by itself when it finds no C compiler
# (or when CGO_ENABLED=0 is set). Outside CI, run without the race detector
# rather than not at all; in CI let `go test -race` fail loudly.
race_flag() {
	if [ "$("$GO" env CGO_ENABLED)" = 1 ] || [ -n "${CI:-}" ]; then
		echo -race
	else
		say "WARNING: cgo is off (no C compiler?): running go test without -race" >&2
	fi
}

# Other go.mod files below the root are separate modules (e.g. ormtest/), which
# `./...` does not enter. Skips what the go tool skips: testdata, vendor, dot- and underscore-dirs.
nested_modules() {
	find . -mindepth 1 \( -name testdata -o -name vendor -o -name '.*' -o -name '_*' \) -prune \
		-o -name go.mod -type f ! -path ./go.mod -printf '%h\n' | sort
}

# The odbc build tag compiles github.com/alexbrainman/odbc, which is cgo and
# needs unixODBC's headers (apt package unixodbc-dev; scripts/test-env.sh
# installs it as root). Without them the -tags odbc vet and tests cannot run:
# outside CI they are skipped with a warning; in CI that fails at once, before
# the long steps, instead of leaving the ODBC tests silently unrun.
odbc_headers() {
	[ -f /usr/include/sql.h ] && return 0
	if [ -n "${CI:-}" ]; then
		say "FAILED: no /usr/include/sql.h (apt package unixodbc-dev, which scripts/test-env.sh installs when run as root): CI must run the -tags odbc tests" >&2
		exit 1
	fi
	say "WARNING: no /usr/include/sql.h (apt package unixodbc-dev): skipping the -tags odbc vet and tests" >&2
	return 1
}

run_go() {
	local race=() mod odbc=0
	odbc_headers && odbc=1
	read -ra race <<<"$(race_flag)"
	step "$GO" vet ./...
	# The default build must not need cgo (the odbc driver is behind a build tag).
	step env CGO_ENABLED=0 "$GO" build ./...
	# -p 1: the fault and failover tests stop and promote the shared servers;
	# another package's tests must not run meanwhile.
	step "$GO" test "${race[@]}" -p 1 -count=1 "$@" ./...

	if [ "$odbc" = 1 ]; then
		step env CGO_ENABLED=1 "$GO" vet -tags odbc ./...
		# Backend tests name their ODBC subtest after its variable; tests without
		# subtests (TestNestedPsqlODBCDefaults among them) run again here, except
		# the fault and failover tests, which stop servers and need no ODBC.
		step env CGO_ENABLED=1 "$GO" test "${race[@]}" -p 1 -count=1 -tags odbc -run '/AIODB_TEST_ODBC' \
			-skip '^(TestFault|TestFailover|TestReadYourWrites|TestReplicaPostgres|TestReplicaMySQL|TestReplicaSQLite|TestReplicaBlockMonotonic)' ./...
	fi

	while IFS= read -r -u 3 mod; do  # fd 3: keep the tests' stdin untouched
		say "nested module $mod"
		(cd "$ROOT_DIR/$mod" && step "$GO" test "${race[@]}" -p 1 -count=1 "$@" ./...)
	done 3< <(nested_modules)
	# ormtest's query packages are sqlc's output: check that they are current.
	step bash ormtest/sqlc-check.sh
}

main() {
	setup_servers
	export_dsns
	run_go "$@"
	say "all steps passed"
}

main "$@"
