package main

// The test suite (scripts/test.sh runs every nested module's tests) runs the
// program and checks what it prints.
func Example() {
	main()
	// Output:
	// Select: [{ID:1 Name:ann Age:31} {ID:2 Name:bob Age:42}]
	// In:     [ann cid]
	// Get:    {ID:1 Name:ann Age:32}
	// after rollback: 31
}
