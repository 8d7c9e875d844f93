// Package cli is the cairn command line (urfave/cli v2). It is the only
// package that reads flags and the environment; everything it does goes
// through package node.
//
// Words:
//   - Home: the node folder, from --home, then CAIRN_HOME, then ~/.cairn.
//   - Ref argument: ORG/NAME[@REV]; REV defaults to main.
//   - --json: one JSON document on stdout, for scripts; human text
//     otherwise. Errors always go to stderr with a non-zero exit.
package cli
