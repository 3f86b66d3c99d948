package main

import "syscall"

// stopWithParent makes the kernel send a service SIGTERM when devrun dies,
// even by SIGKILL, so no service outlives it.
func stopWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
