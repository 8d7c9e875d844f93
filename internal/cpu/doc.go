// Package cpu reads the CPU time the process has used, so that benchmarks
// can print it beside wall time: CPU per byte is the figure that stays put
// on a shared, noisy machine, and wall time much above CPU time divided by
// the cores shows waiting (disk, network, other load).
package cpu
