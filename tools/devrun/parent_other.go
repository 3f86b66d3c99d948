//go:build !linux

package main

import "syscall"

// stopWithParent: only Linux can have the kernel stop a child with its
// parent; elsewhere devrun's own shutdown stops the services.
func stopWithParent() *syscall.SysProcAttr { return nil }
