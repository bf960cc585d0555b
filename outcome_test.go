package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/aiodb/aiodb/internal/backend"
)

// dialOnce connects once; every later dial is refused (the primary died).
type dialOnce struct {
	driver.Connector
	dials atomic.Int32
}

func (d *dialOnce) Connect(ctx context.Context) (driver.Conn, error) {
	if d.dials.Add(1) > 1 {
		return nil, syscall.ECONNREFUSED
	}
	return d.Connector.Connect(ctx)
}

// TestOutcomeUnknownExec: a write whose connection broke after it was sent
// (not driver.ErrBadConn) may have run: its error wraps ErrOutcomeUnknown,
// also when the primary then cannot be dialled (ErrPrimaryDown too).
func TestOutcomeUnknownExec(t *testing.T) {
	name := fmt.Sprintf("outcome-%d", tableSeq.Add(1))
	mdb, mock, err := sqlmock.NewWithDSN(name, sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	cfg, err := ParseDSN(pgMock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) {
		return &dialOnce{Connector: backend.DSNConnector{DSN: name, Drv: mdb.Driver()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	mock.ExpectExec("UPDATE t SET v = 1").WillReturnError(io.ErrUnexpectedEOF)
	_, err = db.ExecContext(context.Background(), "UPDATE t SET v = 1")
	for _, want := range []error{ErrOutcomeUnknown, ErrPrimaryDown, io.ErrUnexpectedEOF} {
		if !errors.Is(err, want) {
			t.Errorf("write lost after sending, primary gone: %v, want it to wrap %v", err, want)
		}
	}
}

// TestOutcomeUnknownCommit: a COMMIT whose connection broke before the
// answer arrived may have committed: ErrOutcomeUnknown.
func TestOutcomeUnknownCommit(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectCommit().WillReturnError(io.ErrUnexpectedEOF)
	if err := begin(t, c).Commit(); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("COMMIT lost: %v, want ErrOutcomeUnknown", err)
	}
}
