// Package storetest is the behaviour every Cairn store must show, as one
// test suite (Run) that a store implementation's tests call with a
// constructor, plus helpers to build blocks and revisions in tests.
//
// Words: a fixture revision is a small UnixFS-shaped DAG (raw leaves under
// one dag-pb node per file, under one dag-pb root) with a valid manifest,
// its blocks already put into the store under test.
package storetest
