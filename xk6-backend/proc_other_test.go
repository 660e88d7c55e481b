//go:build !linux

package backend_test

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
