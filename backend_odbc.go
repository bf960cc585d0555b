//go:build odbc

package aiodb

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
	odbcErrorOf = func(err error) (dbError, bool) {
		var oe *odbc.Error
		if !errors.As(err, &oe) || len(oe.Diag) == 0 {
			return dbError{}, false
		}
		d := oe.Diag[0]
		return dbError{state: d.State, number: d.NativeError, msg: d.Message}, true
	}
}
