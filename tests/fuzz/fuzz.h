/* SPDX-License-Identifier: MIT */
/* What every harness gives libFuzzer (its main calls them). */
#ifndef FOD_FUZZ_H
#define FOD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
