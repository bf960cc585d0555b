package aiodb

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTxOptionsNil checks that a nil *sql.TxOptions keeps the defaults
// instead of panicking.
func TestTxOptionsNil(t *testing.T) {
	ctx := context.Background()
	db, err := Open("sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Transaction(ctx, func(ctx context.Context) error {
		_, err := db.Execute(ctx, "CREATE TABLE api_txnil (x INTEGER)")
		return err
	}, TxOptions(nil))
	if err != nil {
		t.Fatalf("Transaction with TxOptions(nil): %v", err)
	}
}

// TestEnumStrings checks that RouteMode and ReplicaPolicy print as the DSN
// spells them.
func TestEnumStrings(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{RouteManual.String(), "manual"}, {RouteAuto.String(), "auto"}, {RouteMode(9).String(), "RouteMode(9)"},
		{RoundRobin.String(), "round_robin"}, {Random.String(), "random"}, {ReplicaPolicy(9).String(), "ReplicaPolicy(9)"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
}

// TestFromDBAndNewConnector wraps a *sql.DB opened from NewConnector, with a
// logger, in a DB: the helpers, Stats and the statement log all work.
func TestFromDBAndNewConnector(t *testing.T) {
	ctx := context.Background()
	cfg, err := ParseDSN("sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	cn, err := NewConnector(cfg, Logger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	sdb := sql.OpenDB(cn)
	defer sdb.Close()
	db, err := FromDB(sdb)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := FetchVal[int64](ctx, db, "SELECT 41 + 1"); err != nil || v != 42 {
		t.Fatalf("FetchVal = %v, %v", v, err)
	}
	if !strings.Contains(buf.String(), "SELECT 41 + 1") {
		t.Errorf("the connector's logger did not log the statement: %q", buf.String())
	}
	st, err := db.Stats()
	if err != nil || len(st) != 1 || !st[0].Primary {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	raw, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := FromDB(raw); err == nil {
		t.Error("FromDB of a *sql.DB not opened with aiodb succeeded")
	}
}

// TestFetchValOneConversionPath checks that FetchVal converts as a Record
// does: on MySQL without parseTime, go-sql-driver returns a DATETIME as
// text, which a Record yields as a time.Time, and so must FetchVal.
func TestFetchValOneConversionPath(t *testing.T) {
	b := serverBackend(t, envMySQL)
	ctx := context.Background()
	db, err := Open(b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const q = "SELECT CAST('2024-01-02 03:04:05.123456' AS DATETIME(6))"
	rec, err := db.FetchOne(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := rec.At(0).(time.Time)
	if !ok {
		t.Fatalf("the Record holds %T, want time.Time", rec.At(0))
	}
	got, err := FetchVal[time.Time](ctx, db, q)
	if err != nil {
		t.Fatalf("FetchVal[time.Time]: %v", err)
	}
	if !got.Equal(want) {
		t.Errorf("FetchVal[time.Time] = %v, the Record says %v", got, want)
	}
}
