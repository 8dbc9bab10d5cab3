package localcluster

import "syscall"

// procAttr makes a component die with the process that started it, so that an interrupted test run or demo
// leaves no stray process behind.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
