package aiodb

import (
	"testing"
)

// TestMySQLCharsetList: go-sql-driver tries each charset of a list in turn;
// through aiodb the list keeps its meaning (the server knows no "none").
func TestMySQLCharsetList(t *testing.T) {
	b := serverBackend(t, envMySQL)
	db := openRouted(t, withOptions(b.dsn, "charset=none,utf8mb4"))
	var cs string
	if err := db.QueryRow("SELECT @@character_set_connection").Scan(&cs); err != nil {
		t.Fatal(err)
	}
	if cs != "utf8mb4" {
		t.Errorf("character_set_connection %q, want utf8mb4", cs)
	}
}
