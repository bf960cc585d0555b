package main

// The test suite runs the program and checks what it prints.
func Example() {
	main()
	// Output:
	// Execute:      id 1
	// FetchAll:     [(name="ann", age=31) (name="bob", age=42) (name="cid", age=27) (name="dan", age=NULL)]
	// FetchMany:    [(name="dan") (name="cid")]
	// FetchOne:     bob 42 3 [id name age] false
	// Record.Scan:  bob 42
	// no row:       true
	// FetchVal:     4 bob 33.333333333333336 true
	// Iterate:      [ann bob]
	// Connection:   4 rows in a temporary table
}
