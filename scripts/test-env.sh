#!/usr/bin/env bash
# scripts/test-env.sh - build (or just verify) the local database servers that
# aiodb's integration tests talk to. Debian 12, run as root, no stdin needed.
#
#   PostgreSQL 15  primary   127.0.0.1:5432  cluster 15/main      db test, user postgres, trust
#                  standby   127.0.0.1:5433  cluster 15/replica1  hot standby, streams from 5432
#                  standby   127.0.0.1:5434  cluster 15/replica2  hot standby, streams from 5432
#   MariaDB 10.11  primary   127.0.0.1:3306  binlog, server-id 1  root (no password), app/app, repl/repl
#                  replica   127.0.0.1:3307  GTID replica, server-id 2, read_only, /var/lib/mysql-3307
#   unixODBC       DSNs pg, pg_replica1, pg_replica2, maria, sqlite in /etc/odbc.ini
#
# Idempotent: every step first looks at what is already there, so a second run
# only starts what is down and re-checks (a few seconds). Replicas that cannot
# catch up any more (promoted, WAL/binlog gone, broken replication) are rebuilt
# once automatically.
#
#   RESET=1 scripts/test-env.sh     rebuild all replicas from their primaries
#   SKIP_APT=1 scripts/test-env.sh  never call apt-get
#
# The primaries are shared with whoever else uses this machine: they are only
# ever started, reloaded, or (once per machine, to turn on the MariaDB binlog)
# restarted; their data is never touched beyond db/user creation.
set -euo pipefail

PG_VERSION=15
PG_PRIMARY_PORT=5432
PG_REPLICAS=(replica1:5433 replica2:5434)  # cluster name : port
PG_WAL_KEEP=256MB

MY_PRIMARY_SOCK=/run/mysqld/mysqld.sock
MY_PRIMARY_PID=/run/mysqld/mysqld.pid
MY_REPLICA_CNF=/etc/mysql/aiodb-replica-3307.cnf
MY_REPLICA_DATA=/var/lib/mysql-3307
MY_REPLICA_SOCK=/run/mysqld/mysqld-3307.sock
MY_REPLICA_PID=/run/mysqld/mysqld-3307.pid
MY_REPLICA_LOG=/var/log/mysql/error-3307.log

ODBC_SQLITE_DB=/var/tmp/aiodb-odbc-test.sqlite
PROBE_TABLE=aiodb_test_env_probe  # scratch table for the replication checks, dropped afterwards

export PGCONNECT_TIMEOUT=5 DEBIAN_FRONTEND=noninteractive

log() { printf '[test-env] %s\n' "$*"; }
die() { printf '[test-env] FAILED: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ basics

require_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "[test-env] needs root to install/start database servers; skipped (tests use whatever servers are running)"
		exit 0
	fi
}

# Two concurrent runs (e.g. two people starting scripts/test.sh) would fight over
# the same clusters and datadirs. Servers must be started with "9>&-": a daemon
# that inherits fd 9 (pg_ctlcluster does not close it) holds the lock forever.
take_lock() {
	exec 9>/run/lock/aiodb-test-env.lock
	flock -w 600 9 || die "another scripts/test-env.sh holds /run/lock/aiodb-test-env.lock"
}

PACKAGES=(
	postgresql-15 postgresql-client-15 mariadb-server mariadb-client
	unixodbc unixodbc-dev odbc-postgresql odbc-mariadb libsqliteodbc
	gcc libc6-dev  # cgo: needed by `go test -race` and by the odbc build tag
)

ensure_packages() {
	[ "${SKIP_APT:-0}" = 1 ] && return 0
	local missing=() p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for SECONDS COMMAND... : retry COMMAND every 0.5s.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.5
	done
}

# ------------------------------------------------------------------ PostgreSQL

pg() { # pg PORT [psql args...]   (tuples only, unaligned, stop on error)
	local port=$1; shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$1"; }
pg_cluster_exists() { [ -f "/etc/postgresql/$PG_VERSION/$1/postgresql.conf" ]; }
pg_running() { pg_ctlcluster "$PG_VERSION" "$1" status >/dev/null 2>&1; }
# No systemd here: --skip-systemctl-redirect runs pg_ctl directly. 9>&-: see take_lock.
pg_cluster_ctl() { pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$2" "$1" 9>&-; }  # ACTION NAME
pg_start() { pg_running "$1" || pg_cluster_ctl start "$1"; }

# Make pg_hba.conf trust everything on loopback. Prints "changed" if it edited
# the file. Two facts behind this:
#  - a fresh Debian cluster uses peer/scram-sha-256; tests connect without a password.
#  - "all" in the database column does NOT match physical replication
#    connections: pg_basebackup and the standbys' walreceivers need an explicit
#    "replication" line, and some images ship an hba without one.
pg_trust_hba() {
	local hba=$1 before
	before=$(md5sum <"$hba")
	sed -i -E 's/^((local|host|hostssl|hostnossl)\s.*\s)(peer|ident|md5|scram-sha-256|password)\s*$/\1trust/' "$hba"
	grep -Eq '^local\s+replication\s+all\s+trust\s*$' "$hba" ||
		echo 'local   replication     all                                     trust' >>"$hba"
	grep -Eq '^host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust\s*$' "$hba" ||
		echo 'host    replication     all             127.0.0.1/32            trust' >>"$hba"
	[ "$(md5sum <"$hba")" = "$before" ] || echo changed
}

pg_setup_primary() {
	pg_cluster_exists main || pg_createcluster -p "$PG_PRIMARY_PORT" "$PG_VERSION" main >/dev/null
	local hba_changed
	hba_changed=$(pg_trust_hba "/etc/postgresql/$PG_VERSION/main/pg_hba.conf")
	if ! pg_running main; then
		pg_start main
	elif [ -n "$hba_changed" ]; then
		log "postgres: pg_hba.conf changed, reloading 15/main"
		pg_cluster_ctl reload main
	fi
	wait_for 60 pg_ready "$PG_PRIMARY_PORT" || die "postgres primary on :$PG_PRIMARY_PORT did not come up"

	# A failover test that failed half way may have left the primary fenced
	# (read-only) or demoted.
	[ "$(pg "$PG_PRIMARY_PORT" -d postgres -c 'SELECT pg_is_in_recovery()')" = f ] ||
		die "postgres: 15/main on :$PG_PRIMARY_PORT is in recovery (a demoted primary): rebuild it or promote it (pg_ctlcluster 15 main promote)"
	# pg_file_settings also sees a fence written with ALTER SYSTEM but not yet reloaded.
	if [ "$(pg "$PG_PRIMARY_PORT" -d postgres -c "SELECT current_setting('default_transaction_read_only') = 'on' OR EXISTS (SELECT FROM pg_file_settings WHERE name = 'default_transaction_read_only' AND setting = 'on')")" != f ]; then
		log "postgres: 15/main is fenced read-only (a failover test?): making it writable"
		pg "$PG_PRIMARY_PORT" -d postgres -c 'ALTER SYSTEM RESET default_transaction_read_only' -c 'SELECT pg_reload_conf()' >/dev/null
	fi
	[ "$(pg "$PG_PRIMARY_PORT" -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'test'")" = 1 ] ||
		pg "$PG_PRIMARY_PORT" -d postgres -c 'CREATE DATABASE test'

	# Standbys use no replication slots (nothing to clean up when a test or a
	# reset throws a replica away); instead the primary keeps this much WAL so a
	# standby that a test stopped for a while can still catch up.
	if [ "$(pg "$PG_PRIMARY_PORT" -d postgres -c 'SHOW wal_keep_size')" != "$PG_WAL_KEEP" ]; then
		pg "$PG_PRIMARY_PORT" -d postgres -c "ALTER SYSTEM SET wal_keep_size = '$PG_WAL_KEEP'" -c 'SELECT pg_reload_conf()' >/dev/null
	fi
	# Debian defaults (wal_level=replica, max_wal_senders=10) allow streaming;
	# these two need a restart to change, so only fail loudly if someone lowered them.
	[ "$(pg "$PG_PRIMARY_PORT" -d postgres -c 'SHOW wal_level')" != minimal ] ||
		die "postgres primary has wal_level=minimal: set it to replica and restart 15/main"
	[ "$(pg "$PG_PRIMARY_PORT" -d postgres -c 'SHOW max_wal_senders')" -ge 5 ] ||
		die "postgres primary needs max_wal_senders >= 5 (2 standbys + pg_basebackup)"
}

# A hot standby refuses to start if these are lower than on its primary, so
# copy the primary's values into the replica's conf.d (Debian's postgresql.conf
# includes conf.d/*.conf). Prints the file's content.
pg_replica_conf() {
	echo "# written by scripts/test-env.sh: standby of 127.0.0.1:$PG_PRIMARY_PORT"
	echo "listen_addresses = '127.0.0.1'"
	echo "hot_standby = on"
	pg "$PG_PRIMARY_PORT" -d postgres -F ' = ' -c "SELECT name, setting FROM pg_settings
		WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
		               'max_prepared_transactions', 'max_locks_per_transaction') ORDER BY name"
}

pg_write_replica_conf() { # NAME -> prints "changed" if the file changed
	local file="/etc/postgresql/$PG_VERSION/$1/conf.d/aiodb-standby.conf" want
	want=$(pg_replica_conf)
	[ -f "$file" ] && [ "$(cat "$file")" = "$want" ] && return 0
	mkdir -p "$(dirname "$file")"
	printf '%s\n' "$want" >"$file"
	echo changed
}

pg_drop_replica() {
	pg_cluster_exists "$1" || [ -d "/var/lib/postgresql/$PG_VERSION/$1" ] || return 0
	log "postgres: dropping 15/$1"
	pg_dropcluster --stop "$PG_VERSION" "$1" 9>&- 2>/dev/null || true
	rm -rf "/etc/postgresql/$PG_VERSION/$1" "/var/lib/postgresql/$PG_VERSION/$1"
}

# pg_createcluster gives us Debian's config layout (/etc/postgresql/15/NAME,
# port, log file, pg_ctlcluster support); its freshly initdb'ed data directory
# is then replaced by a base backup of the primary. -R writes standby.signal and
# primary_conninfo, which makes it a streaming hot standby.
pg_build_replica() { # NAME PORT
	local name=$1 port=$2 data="/var/lib/postgresql/$PG_VERSION/$1"
	pg_drop_replica "$name"
	log "postgres: creating 15/$name on :$port (pg_basebackup -R from :$PG_PRIMARY_PORT)"
	pg_createcluster -p "$port" "$PG_VERSION" "$name" >/dev/null
	pg_trust_hba "/etc/postgresql/$PG_VERSION/$name/pg_hba.conf" >/dev/null
	pg_write_replica_conf "$name" >/dev/null
	rm -rf "$data"
	install -d -o postgres -g postgres -m 700 "$data"
	runuser -u postgres -- pg_basebackup -D "$data" -R -X stream -c fast \
		-d "host=127.0.0.1 port=$PG_PRIMARY_PORT user=postgres application_name=$name"
	pg_start "$name"
}

pg_setup_replica() { # NAME PORT
	local name=$1 port=$2 data="/var/lib/postgresql/$PG_VERSION/$1"
	if [ "${RESET:-0}" = 1 ]; then
		pg_build_replica "$name" "$port"
	elif ! pg_cluster_exists "$name" || [ ! -f "$data/standby.signal" ]; then
		# missing, or half made (e.g. an interrupted pg_basebackup), or promoted
		pg_build_replica "$name" "$port"
	else
		local hba_changed conf_changed
		hba_changed=$(pg_trust_hba "/etc/postgresql/$PG_VERSION/$name/pg_hba.conf")
		conf_changed=$(pg_write_replica_conf "$name")
		if [ -n "$conf_changed" ] && pg_running "$name"; then
			log "postgres: standby settings changed, restarting 15/$name"
			pg_cluster_ctl restart "$name"
		elif [ -n "$hba_changed" ] && pg_running "$name"; then
			pg_cluster_ctl reload "$name"
		fi
		pg_start "$name"
	fi
	wait_for 60 pg_ready "$port" || die "postgres standby 15/$name on :$port did not come up (see /var/log/postgresql/postgresql-$PG_VERSION-$name.log)"
}

# Tests pause WAL replay with pg_wal_replay_pause() and may leave it paused.
pg_resume_replay() {
	pg "$1" -d postgres -c 'SELECT pg_wal_replay_resume() WHERE pg_is_in_recovery()' >/dev/null
}

pg_replica_has_token() { # PORT TOKEN
	[ "$(pg "$1" -d test -c "SELECT count(*) FROM $PROBE_TABLE WHERE token = '$2'")" = 1 ]
}

# Write on the primary, wait for every standby to replay it, and make sure a
# standby refuses writes. Returns 1 naming the first bad replica in BAD_REPLICA.
pg_check_replication() {
	local token entry name port out
	token="t$(date +%s%N)" BAD_REPLICA=""
	pg "$PG_PRIMARY_PORT" -d test \
		-c "CREATE TABLE IF NOT EXISTS $PROBE_TABLE (token text PRIMARY KEY)" \
		-c "INSERT INTO $PROBE_TABLE VALUES ('$token')" || return 1
	for entry in "${PG_REPLICAS[@]}"; do
		name=${entry%%:*} port=${entry##*:} BAD_REPLICA=$name
		[ "$(pg "$port" -d postgres -c 'SELECT pg_is_in_recovery()')" = t ] || {
			log "postgres: 15/$name on :$port is not in recovery (promoted?)"; return 1; }
		pg_resume_replay "$port"
		wait_for 30 pg_replica_has_token "$port" "$token" || {
			log "postgres: 15/$name on :$port did not replay a write from the primary within 30s"; return 1; }
		out=$(pg "$port" -d test -c "INSERT INTO $PROBE_TABLE VALUES ('x$token')" 2>&1) && {
			log "postgres: 15/$name on :$port ACCEPTED a write"; return 1; }
		grep -q 'read-only transaction' <<<"$out" || {
			log "postgres: unexpected error writing to 15/$name: $out"; return 1; }
	done
	pg "$PG_PRIMARY_PORT" -d test -c "DROP TABLE $PROBE_TABLE"
}

pg_setup() {
	pg_setup_primary
	local entry
	for entry in "${PG_REPLICAS[@]}"; do pg_setup_replica "${entry%%:*}" "${entry##*:}"; done
	if ! pg_check_replication; then
		[ -n "$BAD_REPLICA" ] || die "postgres: cannot write the probe row on the primary :$PG_PRIMARY_PORT"
		# e.g. the WAL it needs is gone (stopped for longer than wal_keep_size lasts)
		log "postgres: rebuilding 15/$BAD_REPLICA and checking again"
		local e; for e in "${PG_REPLICAS[@]}"; do
			[ "${e%%:*}" = "$BAD_REPLICA" ] && pg_build_replica "$BAD_REPLICA" "${e##*:}"
		done
		pg_check_replication || die "postgres standby 15/$BAD_REPLICA does not replicate (see /var/log/postgresql/postgresql-$PG_VERSION-$BAD_REPLICA.log)"
	fi
}

# ------------------------------------------------------------------ MariaDB

# --no-defaults: ignore whatever [client] settings my.cnf carries. Admin work
# goes through the unix socket as OS root (unix_socket auth works even on a
# fresh Debian install); checks go over TCP like the tests do.
my_sock() { local sock=$1; shift; mariadb --no-defaults -S "$sock" -u root -N -B "$@"; }
my_tcp() { local port=$1; shift; mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" --connect-timeout=5 -N -B "$@"; }
my_alive() { mariadb-admin --no-defaults -S "$1" ping --silent; }  # 0 once the server answers

my_write_config() {
	mkdir -p /run/mysqld /var/log/mysql /etc/mysql/mariadb.conf.d
	chown mysql:mysql /run/mysqld  # /run is a tmpfs: gone after every reboot
	# Debian's my.cnf normally includes mariadb.conf.d/, but some images ship a
	# bare my.cnf with only a [mysqld] section: add the include there.
	grep -Eq '^!includedir\s+/etc/mysql/mariadb\.conf\.d' /etc/mysql/my.cnf ||
		printf '\n# added by aiodb scripts/test-env.sh\n!includedir /etc/mysql/mariadb.conf.d/\n' >>/etc/mysql/my.cnf
	cat >/etc/mysql/mariadb.conf.d/60-aiodb-primary.cnf <<-'EOF'
	# written by aiodb scripts/test-env.sh: 127.0.0.1:3306 is the binlog primary
	# of the GTID replica on 127.0.0.1:3307 (turning log-bin on needs a restart).
	[mariadbd]
	user             = mysql
	pid-file         = /run/mysqld/mysqld.pid
	socket           = /run/mysqld/mysqld.sock
	server-id        = 1
	log-bin          = mysql-bin
	binlog-format    = ROW
	expire-logs-days = 3
	EOF
	# The replica is a second mariadbd started with --defaults-file, so it reads
	# only this file (and never the primary's my.cnf / conf.d).
	cat >"$MY_REPLICA_CNF" <<-EOF
	# written by aiodb scripts/test-env.sh: GTID replica of 127.0.0.1:3306
	[mariadbd]
	user                 = mysql
	basedir              = /usr
	datadir              = $MY_REPLICA_DATA
	port                 = 3307
	bind-address         = 127.0.0.1
	socket               = $MY_REPLICA_SOCK
	pid-file             = $MY_REPLICA_PID
	log-error            = $MY_REPLICA_LOG
	skip-name-resolve
	server-id            = 2
	relay-log            = relay-bin
	# read_only stops ordinary users (app) but not root: accounts with the
	# READ_ONLY ADMIN privilege (root has ALL PRIVILEGES) bypass it. Tests that
	# need the server's own refusal therefore connect as app.
	read-only            = 1
	character-set-server = utf8mb4
	collation-server     = utf8mb4_general_ci
	innodb-buffer-pool-size = 64M
	EOF
}

my_start_primary() {
	# --pidfile: without it start-stop-daemon --exec would see the 3307
	# replica's mariadbd as "already running" and not start the primary.
	start-stop-daemon --start --oknodo --quiet --background --pidfile "$MY_PRIMARY_PID" \
		--exec /usr/sbin/mariadbd -- --user=mysql 9>&-
	wait_for 60 my_alive "$MY_PRIMARY_SOCK" || die "mariadb primary did not start (see /var/log/mysql/error.log)"
}

my_setup_primary() {
	my_start_primary
	if [ "$(my_sock "$MY_PRIMARY_SOCK" -e 'SELECT @@log_bin')" != 1 ]; then
		# First run on this machine: the running server was started before the
		# binlog config existed. A clean shutdown + start keeps all data.
		log "mariadb: restarting the 3306 primary once to turn on its binlog"
		local pid; pid=$(cat "$MY_PRIMARY_PID")
		mariadb-admin --no-defaults -S "$MY_PRIMARY_SOCK" -u root shutdown
		wait_for 120 bash -c "! kill -0 $pid" || die "mariadb primary (pid $pid) did not shut down"
		my_start_primary
		[ "$(my_sock "$MY_PRIMARY_SOCK" -e 'SELECT @@log_bin')" = 1 ] || die "mariadb primary still runs without binlog"
	fi
	# A failover test that failed half way may have left the primary fenced.
	if [ "$(my_sock "$MY_PRIMARY_SOCK" -e 'SELECT @@global.read_only')" != 0 ]; then
		log "mariadb: the 3306 primary is read-only (a failover test?): making it writable"
		my_sock "$MY_PRIMARY_SOCK" -e 'SET GLOBAL read_only = 0'
	fi
	# skip-name-resolve (set on this image) means a TCP client from 127.0.0.1
	# only matches accounts @'127.0.0.1' or @'%', never @localhost; without it
	# 127.0.0.1 resolves to localhost. Cover both: root@localhost gets an empty
	# password (keeping unix_socket for OS root) and root@'127.0.0.1' exists.
	my_sock "$MY_PRIMARY_SOCK" <<-'EOF'
	ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
	CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
	GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
	CREATE USER IF NOT EXISTS repl@'127.0.0.1' IDENTIFIED BY 'repl';
	GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO repl@'127.0.0.1';
	CREATE USER IF NOT EXISTS app@'%' IDENTIFIED BY 'app';
	CREATE USER IF NOT EXISTS app@localhost IDENTIFIED BY 'app';
	GRANT ALL ON test.* TO app@'%';
	GRANT ALL ON test.* TO app@localhost;
	DROP USER IF EXISTS ''@localhost, ''@'%';
	CREATE DATABASE IF NOT EXISTS test;
	EOF
}

my_start_replica() {
	start-stop-daemon --start --oknodo --quiet --background --pidfile "$MY_REPLICA_PID" \
		--exec /usr/sbin/mariadbd -- --defaults-file="$MY_REPLICA_CNF" 9>&-
	wait_for 60 my_alive "$MY_REPLICA_SOCK" || die "mariadb replica on :3307 did not start: $(tail -n 5 "$MY_REPLICA_LOG" 2>/dev/null)"
}

my_stop_replica() {
	if [ -S "$MY_REPLICA_SOCK" ]; then
		mariadb-admin --no-defaults -S "$MY_REPLICA_SOCK" -u root shutdown 2>/dev/null || true
	fi
	start-stop-daemon --stop --quiet --oknodo --retry TERM/30/KILL/5 --pidfile "$MY_REPLICA_PID" --exec /usr/sbin/mariadbd
	rm -f "$MY_REPLICA_PID"
}

# New datadir, seeded with a consistent dump of the primary. --master-data
# --gtid makes the dump carry the primary's GTID position
# (SET GLOBAL gtid_slave_pos=...), so replication continues exactly after it.
my_build_replica() {
	log "mariadb: building the 3307 replica from a dump of 3306"
	my_stop_replica
	rm -rf "$MY_REPLICA_DATA"
	mariadb-install-db --defaults-file="$MY_REPLICA_CNF" --skip-test-db >/dev/null
	my_start_replica
	# A fresh binary log first: deep inside a large one (hundreds of MB after
	# a few test runs) BINLOG_GTID_POS() returns NULL and mariadb-dump
	# --master-data then crashes.
	my_sock "$MY_PRIMARY_SOCK" -e 'FLUSH BINARY LOGS'
	mariadb-dump --no-defaults -S "$MY_PRIMARY_SOCK" -u root --all-databases --single-transaction \
		--master-data=1 --gtid --routines --events --triggers |
		my_sock "$MY_REPLICA_SOCK"
	# MASTER_CONNECT_RETRY=1: reconnect within a second after a primary restart (default 60s).
	my_sock "$MY_REPLICA_SOCK" <<-'EOF'
	FLUSH PRIVILEGES;
	CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = 3306,
		MASTER_USER = 'repl', MASTER_PASSWORD = 'repl',
		MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
	START SLAVE;
	EOF
}

my_setup_replica() {
	if [ "${RESET:-0}" = 1 ] || [ ! -d "$MY_REPLICA_DATA/mysql" ]; then
		my_build_replica
		return
	fi
	my_start_replica
	if [ -z "$(my_sock "$MY_REPLICA_SOCK" -e 'SHOW SLAVE STATUS')" ]; then
		my_build_replica  # datadir exists but was never pointed at the primary
	else
		my_sock "$MY_REPLICA_SOCK" -e 'START SLAVE' 2>/dev/null || true  # tests may have stopped it
	fi
}

my_replica_has_token() { [ "$(my_tcp 3307 -u root test -e "SELECT count(*) FROM $PROBE_TABLE WHERE token = '$1'")" = 1 ]; }

# One field of SHOW SLAVE STATUS (vertical output needs the column names, so no -N).
my_slave_field() {
	mariadb --no-defaults -S "$MY_REPLICA_SOCK" -u root -B -e 'SHOW SLAVE STATUS\G' | sed -n "s/^ *$1: //p"
}

# Wait up to 30s for the replica to reach GTID position POS; give up at once
# if a replication thread stopped (duplicate key, binlog purged, ...).
my_wait_gtid() {
	local pos=$1 deadline=$((SECONDS + 30))
	until [ "$(my_tcp 3307 -u root -e "SELECT MASTER_GTID_WAIT('$pos', 1)")" = 0 ]; do
		if [ "$(my_slave_field Slave_SQL_Running)" = No ] || [ "$(my_slave_field Slave_IO_Running)" = No ]; then
			log "mariadb: replication on :3307 stopped: $(my_slave_field Last_SQL_Error)$(my_slave_field Last_IO_Error)"
			return 1
		fi
		[ $SECONDS -lt $deadline ] || { log "mariadb: replica :3307 did not reach GTID $pos within 30s"; return 1; }
	done
}

# Write on the primary as app (so app's grants are checked too), wait for the
# replica to apply it, and check that the replica refuses app's writes.
my_check_replication() {
	local token pos out
	token="t$(date +%s%N)"
	my_tcp 3306 -u app -papp test -e "CREATE TABLE IF NOT EXISTS $PROBE_TABLE (token varchar(64) PRIMARY KEY);
		INSERT INTO $PROBE_TABLE VALUES ('$token')" || return 1
	pos=$(my_tcp 3306 -u root -e 'SELECT @@gtid_binlog_pos') || return 1
	my_wait_gtid "$pos" || return 1
	my_replica_has_token "$token" || { log "mariadb: replica :3307 reached GTID $pos but lacks the probe row"; return 1; }
	out=$(my_tcp 3307 -u app -papp test -e "INSERT INTO $PROBE_TABLE VALUES ('x$token')" 2>&1) && {
		log "mariadb: replica :3307 ACCEPTED a write from app"; return 1; }
	grep -q 'read-only' <<<"$out" || { log "mariadb: unexpected error writing to :3307 as app: $out"; return 1; }
	my_tcp 3306 -u app -papp test -e "DROP TABLE $PROBE_TABLE"
}

my_setup() {
	my_write_config
	my_setup_primary
	my_setup_replica
	if ! my_check_replication; then
		log "mariadb: rebuilding the 3307 replica and checking again"
		my_build_replica
		my_check_replication || die "mariadb replica :3307 does not replicate (see $MY_REPLICA_LOG)"
	fi
}

# ------------------------------------------------------------------ ODBC

odbc_setup() {
	# psqlodbc's driver entry ships with CommLog=1, which makes every process
	# that loads the driver write a psqlodbc_<pid>.log file into the cwd or /tmp.
	sed -i -E 's/^(CommLog\s*=\s*)1\s*$/\10/' /etc/odbcinst.ini
	local want
	want=$(cat <<-EOF
	; written by aiodb scripts/test-env.sh (driver names come from /etc/odbcinst.ini)
	[pg]
	Description = PostgreSQL primary 127.0.0.1:5432/test
	Driver      = PostgreSQL Unicode
	Servername  = 127.0.0.1
	Port        = 5432
	Database    = test
	Username    = postgres
	CommLog     = 0
	Debug       = 0

	[pg_replica1]
	Description = PostgreSQL hot standby 127.0.0.1:5433/test
	Driver      = PostgreSQL Unicode
	Servername  = 127.0.0.1
	Port        = 5433
	Database    = test
	Username    = postgres
	CommLog     = 0
	Debug       = 0

	[pg_replica2]
	Description = PostgreSQL hot standby 127.0.0.1:5434/test
	Driver      = PostgreSQL Unicode
	Servername  = 127.0.0.1
	Port        = 5434
	Database    = test
	Username    = postgres
	CommLog     = 0
	Debug       = 0

	[maria]
	Description = MariaDB primary 127.0.0.1:3306/test
	Driver      = MariaDB Unicode
	Server      = 127.0.0.1
	Port        = 3306
	Database    = test
	User        = root
	Password    =

	[sqlite]
	Description = SQLite3 file for ODBC tests
	Driver      = SQLite3
	Database    = $ODBC_SQLITE_DB
	EOF
	)
	[ -f /etc/odbc.ini ] && [ "$(cat /etc/odbc.ini)" = "$want" ] || printf '%s\n' "$want" >/etc/odbc.ini
	# world-writable so tests run by a non-root user can use the sqlite DSN too
	[ -e "$ODBC_SQLITE_DB" ] || install -m 666 /dev/null "$ODBC_SQLITE_DB"
}

odbc_check() {
	local dsn out
	for dsn in pg pg_replica1 pg_replica2 maria sqlite; do
		out=$(echo 'SELECT 1' | isql -b "$dsn" 2>&1) || die "isql -b $dsn failed: $out"
	done
}

# ------------------------------------------------------------------ main

main() {
	require_root
	take_lock
	local start=$SECONDS
	ensure_packages
	pg_setup
	my_setup
	odbc_setup
	odbc_check
	log "OK in $((SECONDS - start))s: postgres :5432 + standbys :5433 :5434 | mariadb :3306 + replica :3307 (app/app read-only there) | odbc DSNs pg pg_replica1 pg_replica2 maria sqlite"
}

main "$@"
