//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 VNNI (VPDPBUSD on 256-bit registers, AVX512VL) builds of the
// int8 block kernels: one instruction per byte product instead of
// VPMADDUBSW+VPMADDWD, and VPDPWSSD for VPMADDWD+VPADDD; same int32 sums.
#define DOTB(s, u, d) VPXOR d, d, d; VPDPBUSD s, u, d
#define DOTB2(s1, u1, s2, u2, d) VPXOR d, d, d; VPDPBUSD s1, u1, d; VPDPBUSD s2, u2, d
#define FN_Q80 ·dotQ80VNNI
#define FN_Q80X4 ·dotQ80x4VNNI
#define MADDW(s, m, acc) VPDPWSSD s, m, acc
#define FN_Q4KX4 ·dotQ4Kx4VNNI
#define FN_Q6KX4 ·dotQ6Kx4VNNI
#include "kernels_int8_amd64.h"
