/* fuzz.h — the libFuzzer entry point every target defines. Built as fuzzers
 * with -Dfuzz=true (clang), and in every build linked with replay.c, which
 * feeds the seed corpus and the regression inputs of tests/fuzz/ to it, so
 * a crash once found stays a test of the ordinary suite. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
