package aiodb

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "nonsense", "postgres://app:s3cret@h/db?aiodb_nope=1", "sqlite:///:memory: mysql://h/db"} {
		db, err := Open(dsn)
		if !errors.Is(err, ErrBadDSN) || db != nil {
			t.Errorf("Open(%q) = %v, %v; want ErrBadDSN", dsn, db, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestOpenPool(t *testing.T) {
	ctx := context.Background()
	open := func(dsn string, opts ...Option) *DB {
		t.Helper()
		db, err := Open(dsn, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.FetchAll(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		return db
	}
	for _, c := range []struct {
		dsn        string
		opts       []Option
		open, idle int
	}{
		{"sqlite:///:memory:", nil, 0, 1},
		{"sqlite:///:memory:?aiodb_maxsize=3&aiodb_minsize=0", nil, 3, 0},
		{"sqlite:///:memory:?aiodb_maxsize=3&aiodb_minsize=0", []Option{MaxOpen(5), MaxIdle(1)}, 5, 1},
		{"sqlite:///:memory:", []Option{MaxIdle(0)}, 0, 0},
	} {
		s := open(c.dsn, c.opts...).DB().Stats()
		if s.MaxOpenConnections != c.open || s.Idle != c.idle {
			t.Errorf("%s with %d options: %d max open, %d idle; want %d, %d", c.dsn, len(c.opts), s.MaxOpenConnections, s.Idle, c.open, c.idle)
		}
	}
}

func TestOpenLogs(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := Open("postgres://app:s3cret@127.0.0.1:1/shop postgres://app:s3cret@127.0.0.2:1/shop", Logger(log))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out := buf.String(); !strings.Contains(out, "level=INFO msg=\"aiodb: open\"") || !strings.Contains(out, "app:xxxxx@127.0.0.2") || strings.Contains(out, "s3cret") {
		t.Errorf("open log: %s", out)
	}

	for _, withArgs := range []bool{false, true} {
		buf.Reset()
		opts := []Option{Logger(log)}
		if withArgs {
			opts = append(opts, LogArgs())
		}
		db, err := Open("sqlite:///:memory:", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FetchVal[string](ctx, db, "SELECT $1", "secret-arg"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		out := buf.String()
		if !strings.Contains(out, `msg="aiodb: statement"`) || !strings.Contains(out, `query="SELECT $1"`) || !strings.Contains(out, "node=") {
			t.Errorf("no statement log: %s", out)
		}
		if strings.Contains(out, "secret-arg") != withArgs {
			t.Errorf("LogArgs %v, log: %s", withArgs, out)
		}
	}
}

// TestOpenLogsNoReplicas: a DSN without replicas is logged at info level,
// so one that lost its replicas by mistake does not go unnoticed.
func TestOpenLogsNoReplicas(t *testing.T) {
	const msg = `level=INFO msg="aiodb: no replicas in the DSN: Replica blocks and WithReplica read from a read-only session on the primary"`
	for dsn, want := range map[string]bool{
		"sqlite:///:memory:": true,
		"postgres://app:s3cret@127.0.0.1:1/shop postgres://app:s3cret@127.0.0.2:1/shop": false,
	} {
		var buf bytes.Buffer
		db, err := Open(dsn, Logger(slog.New(slog.NewTextHandler(&buf, nil))))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if got := strings.Contains(buf.String(), msg); got != want {
			t.Errorf("%s: logged %v, want %v:\n%s", dsn, got, want, buf.String())
		}
	}
}

func TestDBClose(t *testing.T) {
	db, err := Open("sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FetchAll(context.Background(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("FetchAll after Close: %v", err)
	}
}
