package main

// The test suite runs the program and checks what it prints.
func Example() {
	main()
	// Output: [(name="ann", age=31) (name="bob", age=42)] 2
}
