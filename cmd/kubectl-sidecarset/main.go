// Command kubectl-sidecarset is the kubectl plugin of sidecarset-operator: on the PATH, kubectl runs it as
// `kubectl sidecarset`. It reads SidecarSets, their stored revisions and the pods they select, and explains
// them with the operator's own decisions (internal/cli); the commands that change a SidecarSet send the
// patches docs/user-guide.md recommends.
//
//	kubectl sidecarset status log-shipper -w
//	kubectl sidecarset drift log-shipper --cause Outdated
//	kubectl sidecarset why web-0 -n shop
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// version is the plugin's version, set at release (make plugin-release) with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}

// run runs the command line and returns the exit status: 0, a command's own status (exitError), or 1 for any
// other failure, whose message it prints as kubectl does ("error: ...").
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	root := newRootCommand(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(streams.ErrOut, "error: %v\n", exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	return 1
}

// exitError ends the command with an exit status of its own; err, when set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}
