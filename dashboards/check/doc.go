// Package check holds the dashboards' tests (see check_test.go); run them
// with `make test-dashboards`.
package check
