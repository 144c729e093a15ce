// libFuzzer's entry point (linked in by -sanitize=fuzzer): runs the fuzzing loop over
// `callback` with the command line's options, corpus directories and limits.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
