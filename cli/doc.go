// Package cli is the cairn command line (urfave/cli v2). It is the only
// package that reads flags and the environment; it turns them into calls
// on package node (node.Open, Node.StartDaemon with DaemonOptions, the
// Daemon's services) and prints the results. Every command is listed once,
// in commands (app.go); each group is defined beside its code. cli keeps
// no registries and no mutable package state: what a command needs of a
// running daemon it asks the daemon's fields (Daemon.OpenAI, Router,
// Models).
//
// Words:
//   - Home: the node folder, from --home, then CAIRN_HOME, then ~/.cairn.
//   - Ref argument: ORG/NAME[@REV]; REV defaults to main.
//   - --json: one JSON document on stdout, for scripts; human text
//     otherwise. Errors always go to stderr with a non-zero exit.
//   - Forwarded command: a command run while a daemon holds the home's
//     store: it travels over the home's unix socket (api.sock) and runs
//     inside the daemon against its open node (runningDaemon).
//   - CAIRN_INFERENCE_MEMORY: the memory, in bytes, a model may take on
//     this node (file plus KV cache); cmdDaemon puts it in the router's
//     config, and larger models are forwarded.
package cli
