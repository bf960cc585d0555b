//go:build odbc

package backend

import (
	"database/sql"
	"errors"

	"github.com/alexbrainman/odbc" // registers "odbc" with its initialised environment handle
)

func init() {
	// odbc's Driver value is initialised by its own init and only reachable
	// through database/sql's registry; sql.Open does not connect.
	db, err := sql.Open("odbc", "")
	if err != nil {
		return
	}
	odbcDriver = db.Driver()
	db.Close()
}

func init() {
	odbcErrorOf = func(err error) (Error, bool) {
		var oe *odbc.Error
		if !errors.As(err, &oe) || len(oe.Diag) == 0 {
			return Error{}, false
		}
		d := oe.Diag[0]
		return Error{State: d.State, Number: d.NativeError, Msg: d.Message}, true
	}
}
