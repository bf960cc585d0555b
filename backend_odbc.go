//go:build odbc

package aiodb

import (
	"database/sql"

	_ "github.com/alexbrainman/odbc" // registers "odbc" with its initialised environment handle
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
