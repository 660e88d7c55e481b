// Command k6 is k6 built with the perfrun backend extension, as xk6 would build it.
package main

import (
	k6cmd "go.k6.io/k6/cmd"

	_ "github.com/perfrun/perfrun/xk6-backend"
)

func main() {
	k6cmd.Execute()
}
