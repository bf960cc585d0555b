// Package ormtest checks that a *sql.DB opened with aiodb works under the
// libraries people put on top of database/sql: sqlx, sqlc-generated code,
// GORM, bun and ent. It is a separate module so that those libraries never
// enter aiodb's own go.mod.
//
// Every test runs on SQLite (always), on PostgreSQL when AIODB_TEST_POSTGRES
// is set and on MariaDB/MySQL when AIODB_TEST_MYSQL is set (scripts/test.sh
// sets both when the servers answer). With CI set, a missing variable fails
// the test instead of skipping it. Each test gets its own PostgreSQL schema
// or MySQL database, dropped afterwards, so tests never see each other's
// tables.
//
// The subpackages pgq and myq are written in the shape sqlc generates for
// the postgresql engine ($1 placeholders) and for the mysql engine (?
// placeholders, emit_prepared_queries, sqlc.slice); with aiodb both run on
// every backend.
package ormtest
