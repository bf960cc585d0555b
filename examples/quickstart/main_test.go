package main

import "context"

// The test suite runs the demo on the embedded SQLite and checks what it
// prints (main itself would take the test binary's flags for a DSN).
func Example() {
	if err := run(context.Background(), "sqlite:///:memory:"); err != nil {
		panic(err)
	}
	// Output:
	// aiodb quickstart on sqlite (sqlite:///:memory:)
	//
	// == helpers
	// FetchAll   [(name="ann", age=31) (name="bob", age=42)]
	// FetchOne   cid is 27
	// FetchVal   2 users under 40
	// Iterate    [ann bob cid]
	//
	// == nested transaction
	// inside the inner level: 5 users
	// after commit:           [(name="ann") (name="bob") (name="cid") (name="dan")]
	//
	// == replica block
	// read on a replica: 4 users (a real replica may lag behind)
	// write refused:     true - aiodb: read-only: Exec of DELETE in a replica context: data-modifying statement
	// on the primary:    1 row deleted
}
