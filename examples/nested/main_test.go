package main

// The test suite runs the program and checks what it prints.
func Example() {
	main()
	// Output:
	// database/sql: [kept]
	// failed level: true
	// blocks:       [(id=1, note="kept") (id=3, note="released")]
}
