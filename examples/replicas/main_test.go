package main

// The test suite runs the program and checks what it prints.
func Example() {
	main()
	// Output:
	// read on the replica: 2 products
	// write refused:       true
	// RETURNING refused:   true
	// on the primary:      1 deleted
	// node primary=true healthy=true served=3
	// node primary=false healthy=true served=1
}
