// libFuzzer's entry for a program with its own main (compiler-rt's FuzzerInterface.h); the
// symbol is in compiler-rt's libclang_rt.fuzzer_no_main, which scripts/fuzz links.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
